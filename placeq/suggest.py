"""Which placements to simulate next: k layouts of an explored space whose labels should teach a few-shot
fine-tune the most (issue 17), instead of k drawn at random.

A few-shot fine-tune relabels its k values by their own worst quartile (paper Sec. IV-D) and learns a border in
score order, so the k should (a) straddle the border the model is unsure about and (b) not be k near-copies of
one layout. Strategies, all deterministic for a seed:

- ``random``: k uniformly drawn (the baseline every other strategy must beat);
- ``stratified``: one placement from each of k equal slices of the ranking (the middle of each), so the k cover
  the model's whole score range and their own quartile border lands where the space's does;
- ``uncertain``: the k closest to the decision boundary (the prune border of the space's ranking);
- ``uncertain_spread``: among the 4k closest to the boundary, k spread over the design space by farthest-first
  traversal of their critical-net weightings (Hamming distance of the subset bits: which nets the placer raised).

`benchmarks/bench_suggest.py` compares them on labelled spaces (docs/explore.md).
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from placeq.errors import InputError
from placeq.space import subsets_of

Strategy = Literal["random", "stratified", "uncertain", "uncertain_spread"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
DEFAULT_STRATEGY: Strategy = "uncertain_spread"  # best of the four in bench_suggest, by a small margin
POOL_FACTOR = 4  # uncertain_spread: candidates per suggestion


def boundary(scores: np.ndarray, prune: np.ndarray) -> float:
    """The score where the space's decision flips: midway between the best pruned and the worst kept layout
    (either side alone when the other is empty)."""
    s = np.asarray(scores, dtype=np.float64)
    kept, cut = s[~prune], s[prune]
    if len(kept) and len(cut):
        return float((kept.max() + cut.min()) / 2)
    return float(kept.max() if len(kept) else cut.min())


def farthest_first(bits: np.ndarray, k: int, start: int = 0) -> list[int]:
    """k rows of `bits` (B, n) bool, each the farthest (Hamming) from those already chosen, from row `start`;
    ties go to the earlier row."""
    chosen = [start]
    dist = (bits != bits[start]).sum(axis=1)
    while len(chosen) < min(k, len(bits)):
        dist[chosen] = -1
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, (bits != bits[nxt]).sum(axis=1))
    return chosen


def suggest(scores: np.ndarray, prune: np.ndarray, subsets: np.ndarray, k: int, *, strategy: str = DEFAULT_STRATEGY,
            seed: int = 0, exclude: np.ndarray | None = None) -> list[int]:
    """Indices of k placements to label, in the order chosen. `exclude`: indices already labelled."""
    if strategy not in STRATEGIES:
        raise InputError("strategy", f"{strategy!r}: choose one of {', '.join(STRATEGIES)}")
    s = np.asarray(scores, dtype=np.float64)
    free = np.ones(len(s), dtype=bool)
    if exclude is not None and len(exclude):
        free[np.asarray(exclude, dtype=np.int64)] = False
    pool = np.flatnonzero(free)
    if not 1 <= k <= len(pool):
        raise InputError("k", f"must lie in 1..{len(pool)} (the placements not yet labelled), got {k}")
    if strategy == "random":
        return [int(i) for i in np.random.default_rng(seed).choice(pool, size=k, replace=False)]
    if strategy == "stratified":
        ranked = pool[np.argsort(s[pool], kind="stable")]
        centres = ((np.arange(k) + 0.5) * len(ranked) / k).astype(np.int64)
        return [int(ranked[c]) for c in centres]
    near = pool[np.argsort(np.abs(s[pool] - boundary(s, np.asarray(prune, dtype=bool))), kind="stable")]
    if strategy == "uncertain":
        return [int(i) for i in near[:k]]
    candidates = near[: POOL_FACTOR * k]
    n_nets = max(1, int(np.asarray(subsets, dtype=np.int64).max(initial=0)).bit_length())
    picked = farthest_first(subsets_of(np.asarray(subsets, dtype=np.int64)[candidates], n_nets), k)
    return [int(candidates[i]) for i in picked]
