"""Which placements a design space holds (paper Sec. III-A): one per subset of the circuit's k critical nets.

Placement id i raises critical net j iff bit j of i is set, so the full space is ids 0 .. 2^k - 1 (k = 14 gives
the paper's ~16k layouts per design) and a sample of `count` ids is deterministic for a seed. Torch-free: the
placer (`training.placer.space`), explore jobs and `placeq.suggest` all read the ids from here.
"""

from __future__ import annotations

import numpy as np

from placeq.errors import InputError

MAX_CRITICAL = 62  # ids are int64 bit masks


def space_ids(k: int, count: int | None, seed: int) -> np.ndarray:
    """(B,) int64 subset ids: all 2^k in order when count is None or >= 2^k, else a seeded sample, sorted."""
    if k > MAX_CRITICAL:
        raise InputError("critical_nets", f"at most {MAX_CRITICAL} critical nets, got {k}")
    if count is not None and count < 1:
        raise InputError("count", f"must be >= 1, got {count}")
    total = 1 << k
    if count is None or count >= total:
        return np.arange(total, dtype=np.int64)
    rng = np.random.default_rng(seed)
    if total <= 1 << 24:
        return np.sort(rng.choice(total, size=count, replace=False)).astype(np.int64)
    ids: set[int] = set()
    while len(ids) < count:
        ids.update(int(v) for v in rng.integers(0, total, size=count - len(ids), dtype=np.int64))
    return np.array(sorted(ids), dtype=np.int64)


def subsets_of(ids: np.ndarray, k: int) -> np.ndarray:
    """(B,) ids -> (B, k) bool: critical net j raised in placement i."""
    return ((ids[:, None] >> np.arange(k, dtype=np.int64)[None, :]) & 1).astype(bool)
