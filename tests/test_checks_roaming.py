"""Notebook 03's checks accept right answers (the package's, and ones written differently) and reject
plausible wrong ones with a message that names the input and, where it can tell, the mistake."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cltoolkit import checks
from cltoolkit.checks.roaming import reference_tasks_per_filter, reference_visit_probability
from cltoolkit.roaming import RoamingPartition, cosine_choice, initial_partition, roaming_update, units_per_task

# ----------------------------------------------------------------------------------------------
# Right answers pass, also when written differently from the package
# ----------------------------------------------------------------------------------------------


def bernoulli_partition(num_units, num_tasks, p, rng):
    """The paper's way: random units per task, redrawn until the cover holds; a different draw, same law."""
    k = math.ceil(round(p * num_units, 9))
    while True:
        mask = np.zeros((num_units, num_tasks), bool)
        for t in range(num_tasks):
            mask[rng.choice(num_units, size=k, replace=False), t] = True
        if mask.any(axis=1).all():
            return mask


def roam_other_order(mask, visited, rng):
    """Draws i- before i+ (a different stream of random numbers, the same law)."""
    mask, visited = mask.copy(), visited.copy()
    for t in range(mask.shape[1]):
        never = np.flatnonzero(~visited[:, t])
        if len(never):
            i_minus = rng.choice(np.flatnonzero(mask[:, t]))
            i_plus = rng.choice(never)
            mask[i_plus, t], mask[i_minus, t], visited[i_plus, t] = True, False, True
    return mask, visited


def visit_probability_by_counting(num_units, p, c):
    k = math.ceil(round(p * num_units, 9))
    return min(num_units, k + c) / num_units


@pytest.mark.parametrize(
    "check, answer",
    [
        (checks.check_initial_partition, initial_partition),
        (checks.check_initial_partition, bernoulli_partition),
        (checks.check_roaming_update, lambda m, v, rng: roaming_update(m, v, rng)),
        (checks.check_roaming_update, roam_other_order),
        (checks.check_cosine_choice, cosine_choice),
        (checks.check_visit_probability, reference_visit_probability),
        (checks.check_visit_probability, visit_probability_by_counting),
        (checks.check_tasks_per_filter, reference_tasks_per_filter),
    ],
)
def test_right_answers_pass(check, answer, capsys):
    assert check(answer) is True
    assert capsys.readouterr().out.startswith("✓")


def test_roaming_update_says_whether_it_drew_like_the_package(capsys):
    checks.check_roaming_update(lambda m, v, rng: roaming_update(m, v, rng))
    assert "agrees exactly" in capsys.readouterr().out
    checks.check_roaming_update(roam_other_order)
    assert "draws differently" in capsys.readouterr().out


def test_visit_probability_matches_a_simulation_of_the_package():
    """The reference formula is what RoamingPartition does: count over many seeds."""
    S, T, p, draws = 10, 3, 0.33, 3000
    k = units_per_task(S, p)
    counts = np.zeros(S - k + 1)
    for seed in range(draws):
        part = RoamingPartition(S, T, p, seed=seed)
        for c in range(S - k + 1):
            counts[c] += part.visited[0, 1]
            part.step()
    measured = counts / draws
    predicted = np.array([reference_visit_probability(S, p, c) for c in range(S - k + 1)])
    assert np.abs(measured - predicted).max() < 0.035, (measured, predicted)


# ----------------------------------------------------------------------------------------------
# Wrong answers are rejected, naming the input and the mistake
# ----------------------------------------------------------------------------------------------


def disjoint_cover_only(num_units, num_tasks, p, rng):
    mask = np.zeros((num_units, num_tasks), bool)
    for t, block in enumerate(np.array_split(rng.permutation(num_units), num_tasks)):
        mask[block, t] = True
    return mask


def without_cover(num_units, num_tasks, p, rng):
    k = math.ceil(round(p * num_units, 9))
    mask = np.zeros((num_units, num_tasks), bool)
    mask[:k, :] = True  # every task takes the same first k units
    return mask


def floor_instead_of_ceil(num_units, num_tasks, p, rng):
    k = max(1, math.floor(p * num_units))
    mask = disjoint_cover_only(num_units, num_tasks, p, rng)
    for t in range(num_tasks):
        free = np.flatnonzero(~mask[:, t])
        extra = max(0, k - int(mask[:, t].sum()))
        mask[rng.choice(free, size=extra, replace=False), t] = True
    return mask


def transposed(num_units, num_tasks, p, rng):
    return initial_partition(num_units, num_tasks, p, rng).T


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (disjoint_cover_only, "top each task up"),
        (without_cover, "belong to no task"),
        (floor_instead_of_ceil, "ceil"),
        (transposed, "units x tasks"),
    ],
)
def test_initial_partition_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint) as info:
        checks.check_initial_partition(wrong)
    assert "S=" in str(info.value) and "p=" in str(info.value), "the message should name the layout"


def i_minus_from_visited(mask, visited, rng):
    """The authors' bug: i- drawn from the visited filters, not the active ones."""
    mask, visited = mask.copy(), visited.copy()
    for t in range(mask.shape[1]):
        never = np.flatnonzero(~visited[:, t])
        if len(never):
            i_plus, i_minus = rng.choice(never), rng.choice(np.flatnonzero(visited[:, t]))
            mask[i_plus, t], mask[i_minus, t], visited[i_plus, t] = True, False, True
    return mask, visited


def i_plus_from_all_inactive(mask, visited, rng):
    """i+ drawn from every inactive filter, visited before or not."""
    mask, visited = mask.copy(), visited.copy()
    for t in range(mask.shape[1]):
        inactive = np.flatnonzero(~mask[:, t])
        if len(inactive) and not visited[:, t].all():
            i_plus, i_minus = rng.choice(inactive), rng.choice(np.flatnonzero(mask[:, t]))
            mask[i_plus, t], mask[i_minus, t], visited[i_plus, t] = True, False, True
    return mask, visited


def forgets_visited(mask, visited, rng):
    new_mask, _ = roaming_update(mask, visited, rng)
    return new_mask, visited


def does_nothing(mask, visited, rng):
    return mask.copy(), visited.copy()


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (i_minus_from_visited, "active"),
        (i_plus_from_all_inactive, "never visited"),
        (forgets_visited, "visited should become"),
        (does_nothing, "gain exactly one unit"),
    ],
)
def test_roaming_update_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint) as info:
        checks.check_roaming_update(wrong)
    assert "update" in str(info.value) and "S=" in str(info.value)


def progress_over_all_units(visited, p):
    return visited[:, 0].sum() / visited.shape[0]


def progress_with_floor(visited, p):
    S = visited.shape[0]
    k = math.floor(p * S)
    return 1.0 if k == S else (visited[:, 0].sum() - k) / (S - k)


def progress_without_done_case(visited, p):
    S = visited.shape[0]
    k = math.ceil(round(p * S, 9))
    with np.errstate(divide="ignore", invalid="ignore"):
        return (visited[:, 0].sum() - k) / np.float64(S - k)


@pytest.mark.parametrize("wrong", [progress_over_all_units, progress_with_floor, progress_without_done_case])
def test_roaming_progress_mistakes(wrong):
    with pytest.raises(AssertionError, match="subtract the ceil") as info:
        checks.check_roaming_progress(wrong)
    assert "after" in str(info.value) and "updates" in str(info.value)


def cosine_i_minus_from_visited(similarity, active, visited):
    i_plus, _ = cosine_choice(similarity, active, visited)
    members = np.flatnonzero(visited)
    return i_plus, int(members[np.argmax(similarity[np.ix_(members, members)].mean(axis=1))])


def cosine_most_similar_i_plus(similarity, active, visited):
    _, i_minus = cosine_choice(similarity, active, visited)
    candidates, members = np.flatnonzero(~visited), np.flatnonzero(active)
    return int(candidates[np.argmax(similarity[np.ix_(candidates, members)].mean(axis=1))]), i_minus


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (cosine_i_minus_from_visited, "i- should be"),
        (cosine_most_similar_i_plus, "lowest mean similarity"),
    ],
)
def test_cosine_choice_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint) as info:
        checks.check_cosine_choice(wrong)
    assert "case" in str(info.value)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda widths, p, delta: delta * sum(S - math.ceil(round(p * S, 9)) for S in widths), "widest layer"),
        (lambda widths, p, delta: delta * (widths[0] - math.ceil(round(p * widths[0], 9))), "widest layer"),
        (lambda widths, p, delta: max(S - math.ceil(round(p * S, 9)) for S in widths), "iterations"),
        (lambda widths, p, delta: delta * max(round((1 - p) * S) for S in widths), "iterations"),
    ],
)
def test_roaming_iterations_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint) as info:
        checks.check_roaming_iterations(wrong)
    assert "widths" in str(info.value)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (
            lambda S, p, c: (
                p + (1 - p) * min(c, S - math.ceil(round(p * S, 9))) / max(1, S - math.ceil(round(p * S, 9)))
            ),
            "whole number",
        ),
        (lambda S, p, c: (math.ceil(round(p * S, 9)) + c) / S, "cap c"),
        (lambda S, p, c: min(c, S - math.ceil(round(p * S, 9))) / S, "starting filters"),
        (lambda S, p, c: 1 - (1 - math.ceil(round(p * S, 9)) / S) * (1 - 1 / S) ** c, "never-visited"),
        (lambda S, p, c: math.ceil(round(p * S, 9)) / S, "keeps growing"),
        (lambda S, p, c: 0.9, "count the visited filters"),
    ],
)
def test_visit_probability_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint) as info:
        checks.check_visit_probability(wrong)
    assert "S=" in str(info.value) and "c=" in str(info.value)


def _k(S, p):
    return math.ceil(round(p * S, 9))


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda S, T, p, roaming: float(T) if roaming else 1.0, "overlap"),
        (lambda S, T, p, roaming: float(T) if roaming else p * T, "whole number"),
        (lambda S, T, p, roaming: float(T) if roaming else float(_k(S, p)), "how many filters a task owns"),
        (lambda S, T, p, roaming: float(T), "its own partition"),
        (lambda S, T, p, roaming: T * _k(S, p) / S, "every task visits"),
        (lambda S, T, p, roaming: float(_k(S, p)) if roaming else T * _k(S, p) / S, "uses at once"),
        (lambda S, T, p, roaming: T * _k(S, p) / S + (0.5 if roaming else 0.0), "task-filter pairs"),
    ],
)
def test_tasks_per_filter_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint) as info:
        checks.check_tasks_per_filter(wrong)
    assert "S=" in str(info.value) and "T=" in str(info.value)


def test_a_stub_is_not_done_not_wrong(capsys):
    def stub(*args):
        raise NotImplementedError()

    for name in ("check_visit_probability", "check_tasks_per_filter", "check_roaming_update"):
        assert getattr(checks, name)(stub) is False
    assert capsys.readouterr().out.count("Not done yet") == 3


def test_package_trained_by_matches_the_tasks_per_filter_reference():
    """The measure the notebook asserts with (TaskTrainingRecorder) gives the reference's numbers on real runs."""
    from dataclasses import replace

    from cltoolkit.data import attribute_tasks, load_digits
    from cltoolkit.experiments.roaming import default_config, run_roaming

    data = attribute_tasks(load_digits())
    config = default_config("smoke", epochs=2)
    for roaming in (False, True):
        result = run_roaming(data, replace(config, roaming=roaming), seed=1, progress=False, record_training=True)
        for name, trained in result.trained_by.items():
            part = result.partitions.layers[name]
            want = reference_tasks_per_filter(part.num_units, part.num_tasks, part.sharing_ratio, roaming)
            assert trained.sum(axis=1).mean() == pytest.approx(want), (name, roaming)
            if not roaming:
                assert (trained == part.history[0]).all(), f"{name}: fixed partitions trained outside the partition"
