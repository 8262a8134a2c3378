"""Checks for notebook 03 (Maximum Roaming).

=============================  =================================================================
check                          the learner's function
=============================  =================================================================
``check_initial_partition``    ``fn(num_units, num_tasks, p, rng) -> (S, T) bool``: the initial M
``check_roaming_update``       ``fn(mask, visited, rng) -> (mask, visited)``: one roaming update
``check_roaming_progress``     ``fn(visited, p) -> float``: r(c) from the visited sets
``check_cosine_choice``        ``fn(similarity, active, visited) -> (i_plus, i_minus)``
``check_roaming_iterations``   ``fn(layer_widths, p, update_interval) -> int``: iterations until done
``check_visit_probability``    ``fn(num_units, p, c) -> float``: P(a task has visited a given filter
                               after c updates)
``check_tasks_per_filter``     ``fn(num_units, num_tasks, p, roaming) -> float``: how many tasks have
                               trained a filter, on average, by the end of a run
=============================  =================================================================

Every check returns ``True`` once the answer passes (the wrapper in :mod:`._exercise` turns a
stub into one line and ``False``); a wrong answer raises ``AssertionError`` naming the input and,
where it can tell, the mistake.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..roaming import RoamingPartition, cosine_choice, filter_similarity, roaming_update, units_per_task

__all__ = [
    "check_cosine_choice",
    "check_initial_partition",
    "check_roaming_iterations",
    "check_roaming_progress",
    "check_roaming_update",
    "check_tasks_per_filter",
    "check_visit_probability",
    "reference_tasks_per_filter",
    "reference_visit_probability",
]

# p·S a whole number, and not (10 x 0.33 = 3.3: a task owns ceil = 4; floor or round would give 3)
_LAYOUTS = [
    (8, 2, 0.5),
    (10, 3, 0.4),
    (16, 4, 0.25),
    (12, 4, 0.75),
    (5, 5, 0.2),
    (32, 4, 0.5),
    (7, 1, 1.0),
    (10, 3, 0.33),
    (7, 2, 0.6),
    (9, 4, 0.3),
]


def check_initial_partition(fn: Callable) -> None:
    """``fn(num_units, num_tasks, p, rng)``: each task owns ⌈p·S⌉ units and every unit is owned."""
    for seed, (S, T, p) in enumerate(_LAYOUTS):
        mask = np.asarray(fn(S, T, p, np.random.default_rng(seed)))
        case = f"S={S}, T={T}, p={p}"
        assert mask.shape == (S, T), f"{case}: expected shape ({S}, {T}) (units x tasks), got {mask.shape}"
        mask = mask.astype(bool)
        k = units_per_task(S, p)
        counts = mask.sum(axis=0)
        assert (counts == k).all(), (
            f"{case}: each task should own ceil(p*S) = {k} units, got {counts.tolist()} "
            "(top each task up after the disjoint cover)"
        )
        assert mask.any(axis=1).all(), (
            f"{case}: units {np.flatnonzero(~mask.any(axis=1)).tolist()} belong to no task; "
            "start from a disjoint cover of all units"
        )
    print(f"✓ initial partition: right size per task and every unit covered in {len(_LAYOUTS)} cases")


def check_roaming_update(fn: Callable) -> None:
    """``fn(mask, visited, rng) -> (mask, visited)``: Lemma 1 invariants, and exact agreement if drawn the same way."""
    exact = 0
    for seed, (S, T, p) in enumerate(_LAYOUTS):
        part = RoamingPartition(S, T, p, seed=seed)
        mask, visited = part.mask.copy(), part.visited.copy()
        rng_yours, rng_ours = np.random.default_rng(100 + seed), np.random.default_rng(100 + seed)
        for c in range(part.total_steps):
            new_mask, new_visited = (np.asarray(a).astype(bool) for a in fn(mask.copy(), visited.copy(), rng_yours))
            ref_mask, ref_visited = roaming_update(mask, visited, rng_ours)
            case = f"S={S}, T={T}, p={p}, update {c + 1}"
            assert new_mask.shape == mask.shape, f"{case}: the mask changed shape to {new_mask.shape}"
            added, removed = new_mask & ~mask, mask & ~new_mask
            assert (new_mask.sum(0) == mask.sum(0)).all(), f"{case}: the number of active units per task changed"
            assert (added.sum(0) == 1).all(), f"{case}: each task should gain exactly one unit, got {added.sum(0)}"
            assert not (added & visited).any(), f"{case}: i+ must be a unit the task has never visited"
            assert (removed.sum(0) == 1).all(), f"{case}: each task should drop exactly one active unit"
            assert (new_visited == (visited | new_mask)).all(), f"{case}: visited should become visited | new mask"
            exact += int((new_mask == ref_mask).all() and (new_visited == ref_visited).all())
            mask, visited = new_mask, new_visited
        assert visited.all(), f"S={S}, T={T}, p={p}: after S - ceil(pS) updates every unit should be visited"
    total = sum(S - units_per_task(S, p) for S, _, p in _LAYOUTS)
    if exact == total:
        print(f"✓ roaming update agrees exactly with cltoolkit.roaming.roaming_update on {total} updates")
    else:
        print(
            f"✓ roaming update keeps every Lemma 1 invariant on {total} updates "
            f"(it draws differently from the package in {total - exact}: fine, the law is the same)"
        )


def check_roaming_progress(fn: Callable) -> None:
    """``fn(visited, p) -> float``: r(c) = (|B_t(c)| − ⌈p·S⌉) / (S − ⌈p·S⌉), 1 when nothing is left to visit."""
    cases = 0
    for seed, (S, T, p) in enumerate(_LAYOUTS):
        part = RoamingPartition(S, T, p, seed=seed)
        while True:
            got = float(fn(part.visited.copy(), p))
            want = part.progress
            assert abs(got - want) < 1e-6, (
                f"S={S}, T={T}, p={p} after {part.steps} updates: r = {want:.4f}, got {got:.4f}. "
                "Count |B_t| for one task and subtract the ceil(p*S) units it starts with"
            )
            cases += 1
            if not part.step():
                break
    print(f"✓ progress r(c) agrees with RoamingPartition.progress at {cases} update steps")


def check_cosine_choice(fn: Callable) -> None:
    """``fn(similarity, active, visited) -> (i_plus, i_minus)`` against :func:`cltoolkit.roaming.cosine_choice`."""
    gen = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)
    for case in range(20):
        S = int(rng.integers(4, 20))
        filters = torch.randn(S, 3, 3, 3, generator=gen)
        sim = filter_similarity(filters)
        k = int(rng.integers(2, S - 1))
        extra = int(rng.integers(0, S - k))
        order = rng.permutation(S)
        active = np.zeros(S, bool)
        active[order[:k]] = True
        visited = active.copy()
        visited[order[k : k + extra]] = True
        want = cosine_choice(sim, active, visited)
        got = tuple(int(i) for i in fn(sim.copy(), active.copy(), visited.copy()))
        assert got[0] == want[0], (
            f"case {case}: i+ should be {want[0]} (the never-visited filter with the lowest mean similarity to the "
            f"active ones), got {got[0]}" + (" — it has been visited already" if visited[got[0]] else "")
        )
        assert got[1] == want[1], (
            f"case {case}: i- should be {want[1]} (the active filter most similar on average to the other active "
            f"ones), got {got[1]}" + ("" if active[got[1]] else " — it is not active (the authors' code bug)")
        )
    print("✓ cosine selection agrees with cltoolkit.roaming.cosine_choice on 20 random layers")


def check_roaming_iterations(fn: Callable) -> None:
    """``fn(layer_widths, p, update_interval) -> int``: Δ · max over layers of (S_d − ⌈p·S_d⌉)."""
    cases = [
        ([16, 32], 0.5, 5),
        ([64, 128, 256, 512], 0.8, 63),
        ([10], 0.3, 1),
        ([8, 8], 1.0, 10),
        ([33], 0.5, 2),
        ([10], 0.33, 1),  # (1 - p)·S = 6.7, but a task starts with ceil(3.3) = 4 filters: 6 updates
        ([7, 12], 0.6, 3),
    ]
    for widths, p, delta in cases:
        want = delta * max(S - units_per_task(S, p) for S in widths)
        got = int(fn(list(widths), p, delta))
        assert got == want, (
            f"widths {widths}, p={p}, Δ={delta}: roaming ends after {want} iterations, got {got}. "
            "The widest layer finishes last; each layer needs S - ceil(p*S) updates (not (1 - p)*S rounded)"
        )
    print(f"✓ iterations until roaming is done agree on {len(cases)} networks")


# ----------------------------------------------------------------------------------------------
# Understanding the method: visit probability, and how many tasks train each filter
# ----------------------------------------------------------------------------------------------


def reference_visit_probability(num_units: int, p: float, c: int) -> float:
    """P(task t has visited a given filter after c updates) = (⌈pS⌉ + min(c, S − ⌈pS⌉)) / S.

    |B_t(c)| = ⌈pS⌉ + min(c, S − ⌈pS⌉) filters are visited, and by symmetry every filter is equally
    likely to be one of them. With p·S a whole number this is the paper's p + (1 − p)·r(c).
    """
    k = units_per_task(num_units, p)
    return (k + min(c, num_units - k)) / num_units


_VISIT_CASES = [
    *[(24, 0.5, c) for c in (0, 1, 6, 12, 13, 40)],
    *[(10, 0.33, c) for c in (0, 3, 6, 7, 9)],
    (32, 0.25, 5),
    (16, 1.0, 0),
    (16, 1.0, 4),
    (7, 0.5, 2),
    (5, 0.2, 4),
    (64, 0.8, 10),
    (3, 0.34, 1),
]


def _visit_mistake(S: int, p: float, c: int, got: float) -> str:
    """The likely mistake behind a wrong visit probability, or a general hint."""
    k = units_per_task(S, p)
    left = S - k
    candidates = [
        (
            p + (1 - p) * (min(c, left) / left if left else 1.0),
            f"p + (1 - p) r(c) assumes p·S is a whole number; here p·S = {p * S:.2f} and a task starts with "
            f"ceil(p·S) = {k} filters, so start from {k}/{S}",
        ),
        ((k + c) / S, f"roaming stops after S - ceil(p·S) = {left} updates: cap c there (a probability is <= 1)"),
        (min(c, left) / S, f"a task has visited its {k} starting filters before any update (c = 0 is not 0)"),
        (
            min(c, left) / left if left else 1.0,
            "that is the progress r(c); the task also starts with ceil(p·S) filters",
        ),
        (
            1 - (1 - k / S) * (1 - 1 / S) ** c,
            "i+ is drawn from the never-visited filters, not from all S: each update adds exactly one new filter",
        ),
        (k / S, "the active set A_t has ceil(p·S) filters at every step, but the visited set B_t keeps growing"),
    ]
    for value, hint in candidates:
        if abs(got - value) < 1e-9:
            return hint
    return f"count the visited filters |B_t(c)| = ceil(p·S) + min(c, S - ceil(p·S)); each of the {S} is equally likely"


def check_visit_probability(fn: Callable) -> None:
    """``fn(num_units, p, c) -> float``: the probability that a task has visited a given filter after ``c`` updates."""
    for S, p, c in _VISIT_CASES:
        got = float(fn(S, p, c))
        want = reference_visit_probability(S, p, c)
        assert abs(got - want) < 1e-9, (
            f"S={S}, p={p}, c={c}: the probability is {want:.4f}, got {got:.4f}. Hint: {_visit_mistake(S, p, c, got)}"
        )
    print(f"✓ visit probability right in {len(_VISIT_CASES)} cases (before, during and after roaming)")


def reference_tasks_per_filter(num_units: int, num_tasks: int, p: float, roaming: bool) -> float:
    """Mean over a layer's filters of how many tasks have trained it by the end of a run.

    Fixed partitions: T·⌈pS⌉/S (the T tasks own T·⌈pS⌉ filter slots between them, spread over S filters).
    Maximum Roaming run to the end: T (every task has visited, and trained, every filter).
    """
    if roaming:
        return float(num_tasks)
    return num_tasks * units_per_task(num_units, p) / num_units


_TASK_CASES = [(16, 4, 0.5), (32, 4, 0.5), (8, 4, 0.5), (10, 3, 0.33), (16, 9, 0.25), (12, 4, 0.75), (5, 5, 0.2)]


def _tasks_mistake(S: int, T: int, p: float, roaming: bool, got: float) -> str:
    k = units_per_task(S, p)
    if roaming:
        candidates = [
            (
                T * k / S,
                "roaming keeps the number of active filters per task fixed, but over training every task "
                "visits, and trains, every filter",
            ),
            (float(k), "that is how many filters a task uses at once, not how many tasks a filter has"),
            (1.0, "partitions are not disjoint, and roaming moves every task over every filter"),
        ]
    else:
        candidates = [
            (
                1.0,
                f"the partitions overlap: each of the {T} tasks owns ceil(p·S) = {k} of the {S} filters, so "
                f"{T * k} task-filter pairs share {S} filters",
            ),
            (p * T, f"p·S = {p * S:.2f} is not a whole number; each task owns ceil(p·S) = {k} filters"),
            (float(k), "that is how many filters a task owns, not how many tasks own a filter"),
            (float(T), "without roaming a task only ever trains the filters of its own partition"),
        ]
    for value, hint in candidates:
        if abs(got - value) < 1e-9:
            return hint
    return "count task-filter pairs that were ever active and divide by the number of filters S"


def check_tasks_per_filter(fn: Callable) -> None:
    """``fn(num_units, num_tasks, p, roaming) -> float``: the mean number of tasks that trained a filter by the end."""
    cases = 0
    for S, T, p in _TASK_CASES:
        for roaming in (False, True):
            got = float(fn(S, T, p, roaming))
            want = reference_tasks_per_filter(S, T, p, roaming)
            kind = "Maximum Roaming (run to the end)" if roaming else "fixed partitions"
            assert abs(got - want) < 1e-9, (
                f"S={S}, T={T}, p={p}, {kind}: a filter is trained by {want:.4g} tasks on average, got {got:.4g}. "
                f"Hint: {_tasks_mistake(S, T, p, roaming, got)}"
            )
            cases += 1
    print(f"✓ tasks per filter right in {cases} cases (fixed and roaming); the runs below measure it")
