"""Train / validation / test splits of one design space (paper Sec. IV: 20% test), keeping copies together."""

from __future__ import annotations

import numpy as np

from placeq.errors import InputError
from training.feed import FeatureArray


def duplicate_groups(x: FeatureArray, chunk: int = 1024) -> np.ndarray:
    """(N,) int64 group id per layout: layouts with bit-identical features share an id.

    Different net weightings can legalize to the same placement (of 16,384 layouts, ota3 has 14,223 distinct
    feature tensors and ota4 15,254; docs/results/README.md); the model cannot tell such layouts apart, so a
    split that puts one copy in training and another in test leaks test answers. `split_indices(groups=...)`
    keeps each group on one side.
    """
    import hashlib

    digests: list[bytes] = []
    for start in range(0, len(x), chunk):
        part = np.ascontiguousarray(x[np.arange(start, min(start + chunk, len(x)))])
        digests += [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in part]
    _, ids = np.unique(np.frombuffer(b"".join(digests), dtype="V16"), return_inverse=True)
    return ids.astype(np.int64).reshape(-1)


def _group_end(seq: np.ndarray, k: int, groups: np.ndarray | None) -> int:
    """Smallest cut >= k that does not split a group (groups are contiguous in `seq`)."""
    if groups is None:
        return k
    while 0 < k < len(seq) and groups[seq[k]] == groups[seq[k - 1]]:
        k += 1
    return k


def split_indices(
    labels: np.ndarray,
    *,
    test_frac: float = 0.2,
    train_frac: float | None = None,
    train_count: int | None = None,
    val_frac: float = 0.1,
    min_val: int = 16,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Seeded train/val/test split over the used layouts (label 0/1).

    test: `test_frac` of the used layouts (paper: 20%, never seen in training). The training pool is the rest,
    or `train_frac` of *all* used layouts (the paper's alpha: 0.80 = everything but the test set) or exactly
    `train_count` layouts (few-shot). val (early stopping, threshold) is `val_frac` of the pool, or empty when
    that would be fewer than `min_val` layouts.

    With `groups` (`duplicate_groups`), copies of one layout land on the same side of every cut: a cut that
    would split a group moves past it, so a set can be a few layouts larger than asked. When every group has
    one member the split is the same as without `groups`.
    """
    used = np.flatnonzero(np.asarray(labels) >= 0)
    perm = np.random.default_rng(seed).permutation(used)
    if groups is not None:
        # Each group moves to where one fixed member (its lowest row) fell, so groups stay contiguous and every
        # group, large or small, has the same chance to land in test. (The first copy's place would pull a group
        # of 85 copies to the front: ota3's test set came out 19.7% bad instead of 25%.)
        groups = np.asarray(groups)
        lowest = np.full(groups.max(initial=-1) + 1, len(groups))
        np.minimum.at(lowest, groups[used], used)
        position = np.empty(len(groups), dtype=np.int64)
        position[perm] = np.arange(len(perm))
        perm = perm[np.argsort(position[lowest[groups[perm]]], kind="stable")]
    n_test = _group_end(perm, int(round(test_frac * len(used))), groups)
    test, pool = perm[:n_test], perm[n_test:]
    if train_frac is not None and train_count is not None:
        raise InputError("alpha", "give either a training fraction or a number of training layouts")
    if train_frac is not None:
        train_count = int(round(train_frac * len(used)))
    if train_count is not None:
        if not 0 < train_count <= len(pool):
            raise InputError("alpha", f"{train_count} training layouts requested, {len(pool)} available")
        pool = pool[: _group_end(pool, train_count, groups)]
    n_val = int(round(val_frac * len(pool)))
    if n_val < min_val:
        n_val = 0
    n_val = _group_end(pool, n_val, groups)
    return {"train": np.sort(pool[n_val:]), "val": np.sort(pool[:n_val]), "test": np.sort(test)}
