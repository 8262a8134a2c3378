"""Checks for notebook 03 (Maximum Roaming).

=============================  =================================================================
check                          the learner's function
=============================  =================================================================
``check_initial_partition``    ``fn(num_units, num_tasks, p, rng) -> (S, T) bool``: the initial M
``check_roaming_update``       ``fn(mask, visited, rng) -> (mask, visited)``: one roaming update
``check_roaming_progress``     ``fn(visited, p) -> float``: r(c) from the visited sets
``check_cosine_choice``        ``fn(similarity, active, visited) -> (i_plus, i_minus)``
``check_roaming_iterations``   ``fn(layer_widths, p, update_interval) -> int``: iterations until done
=============================  =================================================================
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
]

_LAYOUTS = [(8, 2, 0.5), (10, 3, 0.4), (16, 4, 0.25), (12, 4, 0.75), (5, 5, 0.2), (32, 4, 0.5), (7, 1, 1.0)]


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
    cases = [([16, 32], 0.5, 5), ([64, 128, 256, 512], 0.8, 63), ([10], 0.3, 1), ([8, 8], 1.0, 10), ([33], 0.5, 2)]
    for widths, p, delta in cases:
        want = delta * max(S - units_per_task(S, p) for S in widths)
        got = int(fn(list(widths), p, delta))
        assert got == want, (
            f"widths {widths}, p={p}, Δ={delta}: roaming ends after {want} iterations, got {got}. "
            "The widest layer finishes last; each layer needs S - ceil(p*S) updates"
        )
    print(f"✓ iterations until roaming is done agree on {len(cases)} networks")
