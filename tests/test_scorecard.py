"""The reproduction scorecard: its machinery on cheap claims at smoke scale (the full card is too long for tests)."""

from __future__ import annotations

import json

import pytest

from cltoolkit import cli
from cltoolkit.errors import ConfigError
from cltoolkit.experiments import scorecard as sc
from cltoolkit.roaming import RoamingPartition


def test_at_least_fifteen_claims_across_the_three_papers_and_the_baselines():
    papers = {claim.paper for claim in sc.CLAIMS}
    assert {sc.PIGGYBACK, sc.ROAMING, sc.HYPERNET, sc.BASELINES} <= papers
    testable = [c for c in sc.CLAIMS if c.measure is not None]
    assert len(testable) >= 15
    assert len({c.id for c in sc.CLAIMS}) == len(sc.CLAIMS), "claim ids must be unique"
    for claim in sc.CLAIMS:
        assert claim.claim and claim.paper_says and claim.test, claim.id


def test_one_trained_claim_at_smoke_scale(tmp_path, capsys):
    # Piggyback never changes a stored task: true at any scale, so it must reproduce at smoke too
    md, js = tmp_path / "card.md", tmp_path / "card.json"
    argv = ["scorecard", "--claims", "pb-no-forgetting", "pb-imagenet", "--scale", "smoke", "--seeds", "0", "--quiet"]
    assert cli.main([*argv, "--markdown", str(md), "--json", str(js)]) == 0
    card = json.loads(js.read_text())
    rows = {row["id"]: row for row in card["claims"]}
    assert rows["pb-no-forgetting"]["verdict"] == "reproduces", rows["pb-no-forgetting"]
    assert "bit-identical after all tasks in 1/1 seeds" in rows["pb-no-forgetting"]["measured"]
    assert rows["pb-no-forgetting"]["numbers"] == {"bwt": [0.0], "identical_seeds": 1}
    assert rows["pb-imagenet"]["verdict"] == "not testable here"
    assert {row["verdict"] for row in card["claims"]} <= set(sc.VERDICTS)
    assert sum(row["verdict"] == "not run" for row in card["claims"]) == len(sc.CLAIMS) - 2
    text = md.read_text()
    table = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(table) == len(sc.CLAIMS), "one row per claim"
    assert "python -m cltoolkit scorecard --scale smoke --seeds 0 --claims pb-no-forgetting pb-imagenet" in text
    assert card["date"] in text
    assert "reproduces" in capsys.readouterr().out


def test_lemma1_claim_reproduces_and_fails_for_a_broken_partition(monkeypatch):
    card = sc.run_scorecard(["mr-lemma1"], scale="smoke", seeds=[0, 1], progress=False)
    (row,) = [r for r in card["claims"] if r["id"] == "mr-lemma1"]
    assert row["verdict"] == "reproduces" and "0 failures" in row["measured"]

    def never_roams(self, filters=None):  # a step that does nothing: B_t never grows
        self.steps += 1
        return self.steps < 3

    monkeypatch.setattr(RoamingPartition, "step", never_roams)
    card = sc.run_scorecard(["mr-lemma1"], scale="smoke", seeds=[0], progress=False)
    (row,) = [r for r in card["claims"] if r["id"] == "mr-lemma1"]
    assert row["verdict"] == "does not reproduce at this scale"


def test_the_verdict_follows_the_criterion():
    ctx = sc.Context("smoke", (0, 1), "cpu")
    assert sc._better("a", [0.9, 0.8], "b", [0.7, 0.6]).holds is True
    assert sc._better("a", [0.5, 0.6], "b", [0.7, 0.6]).holds is False
    # a higher mean that is within the noise of the per-seed differences is not "better"
    assert sc._better("a", [0.80, 0.90, 0.85], "b", [0.82, 0.85, 0.86]).holds is False
    assert ctx.seeds == (0, 1)


@pytest.mark.parametrize(
    "claims, message",
    [
        (["pb-no-forgetting", "nope"], "unknown claim 'nope'"),  # hostile
        ([], "non-empty list"),  # hostile
        ("mr-lemma1", "non-empty list"),  # hostile
    ],
)
def test_bad_claim_lists_are_refused(claims, message):
    with pytest.raises(ConfigError, match=message):
        sc.run_scorecard(claims, scale="smoke", progress=False)


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["scorecard", "--claims", "nope"], "unknown claim 'nope'"),
        (["scorecard", "--seeds", "1,1"], "--seeds: expected distinct seeds"),
        (["scorecard", "--markdown", "{tmp}"], "is a directory"),
        (["scorecard", "--json", "{tmp}/same.md", "--markdown", "{tmp}/same.md"], "two different files"),
        (["scorecard", "--scale", "huge"], "unknown scale 'huge'"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(argv, expected, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        code = cli.main([*argv, "--quiet"])
    except SystemExit as exc:
        code = exc.code
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1 and expected in err[0], (code, err)
    assert not list(tmp_path.iterdir())
