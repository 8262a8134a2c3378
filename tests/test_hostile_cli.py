"""Every hostile command line in ``tests/hostile_cases.py`` ends with exit 2 and one readable line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_cases import CASES

from cltoolkit import cli

REPO = Path(__file__).resolve().parents[1]


def run_case(argv, env, monkeypatch, capsys, tmp_path) -> tuple[int, str, str]:
    """Run one case in-process; ``{tmp}`` / ``{file}`` in argv or env become a directory / a regular file."""
    afile = tmp_path / "a-file"
    afile.write_text("not a directory\n")
    subst = {"{tmp}": str(tmp_path), "{file}": str(afile)}

    def fill(text: str) -> str:
        for key, value in subst.items():
            text = text.replace(key, value)
        return text

    for key, value in env.items():
        monkeypatch.setenv(key, fill(value))
    try:
        code = cli.main([fill(a) for a in argv] + ["--quiet"] * (argv[0] == "run"))
    except SystemExit as exc:  # argparse
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("argv, env, expected", CASES, ids=[" ".join(c[0]) + str(c[1] or "") for c in CASES])
def test_bad_input_exits_2_with_one_line(argv, env, expected, monkeypatch, capsys, tmp_path):
    code, out, err = run_case(argv, env, monkeypatch, capsys, tmp_path)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"exit {code}, expected 2; stderr:\n{err}"
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    assert expected in lines[0], f"{lines[0]!r} does not say {expected!r}"
    assert not list(tmp_path.glob("**/*.json")), "no results file may be written for bad input"


def test_at_least_sixty_hostile_cases_across_the_suite():
    # CLI cases here plus the API cases in the method and data tests (counted by their marker comment)
    api_cases = 0
    for path in (REPO / "tests").glob("test_*.py"):
        api_cases += path.read_text().count("# hostile")
    assert len(CASES) + api_cases >= 60, f"{len(CASES)} CLI + {api_cases} API hostile cases; keep at least 60"


def test_json_is_strict_and_results_survive_a_failed_write(tmp_path, monkeypatch, capsys):
    target = tmp_path / "r.json"

    def broken(path, write, binary=True):
        if Path(path) == target:
            raise PermissionError(13, "Permission denied")
        return real(path, write, binary)

    real = cli.atomic_write
    monkeypatch.setattr(cli, "atomic_write", broken)
    monkeypatch.setattr(cli.tempfile, "gettempdir", lambda: str(tmp_path))
    code = cli.main(["run", "finetune", "--tasks", "2", "--quiet", "--json", str(target)])
    err = capsys.readouterr().err
    assert code == 1 and "could not write --json" in err and "saved them to" in err
    saved = list(tmp_path.glob("cltoolkit-finetune-*.json"))
    assert len(saved) == 1, err
    data = json.loads(saved[0].read_text())
    assert len(data["acc_matrix"]) == 2 and data["threads"] >= 1


def test_strict_json_has_no_nan_or_infinity():
    text = cli.dumps({"acc_matrix": [[0.5, float("nan")], [float("inf"), 1.0]], "x": float("-inf")})
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"acc_matrix": [[0.5, None], [None, 1.0]], "x": None}


def test_json_file_respects_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = cli.write_json({"a": 1}, tmp_path / "r.json")
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_orphaned_temporary_file_of_a_killed_writer_is_removed(tmp_path):
    from cltoolkit.files import atomic_write

    target = tmp_path / "ckpt.pt"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f".ckpt.pt.{dead.stdout.strip()}.abc123.tmp"
    orphan.write_bytes(b"half a checkpoint")
    atomic_write(target, lambda f: f.write(b"whole"))
    assert target.read_bytes() == b"whole" and not orphan.exists()


def test_seed_everything_refuses_out_of_range_seeds():
    from cltoolkit.config import seed_everything
    from cltoolkit.errors import ConfigError

    seed_everything(2**64 - 1)
    for bad in (2**64, -1, 1.5, True, "0"):
        with pytest.raises(ConfigError, match="seed"):  # hostile
            seed_everything(bad)


def test_bad_inputs_page_is_up_to_date():
    result = subprocess.run(
        [sys.executable, "scripts/bad_inputs_table.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr + "\nrun: python scripts/bad_inputs_table.py"
