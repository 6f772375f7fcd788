"""A learnable stand-in for real data, for tests and benchmarks that must not depend on a labelled design space."""

from __future__ import annotations

import numpy as np


def synthetic_task(n: int, *, seed: int = 0, nofeat: bool = False, size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """A learnable stand-in for real data: one device box in set 0 (first stage), one in set 1 (other stages),
    CoordConv channels as in Algorithm 1; label 1 when the two boxes lie far apart (above the median distance).

    Returns X (n, 18, 64, 64) float32 (or (n, 2, 64, 64) with the boxes merged into image 0), y (n,) int64.
    """
    rng = np.random.default_rng(seed)
    grid = np.arange(64)
    corners = rng.integers(0, 64 - size, size=(n, 2, 2))  # (n, box, [row, col])
    rows = (grid[None, None, :] >= corners[..., :1]) & (grid[None, None, :] < corners[..., :1] + size)  # (n,2,64)
    cols = (grid[None, None, :] >= corners[..., 1:]) & (grid[None, None, :] < corners[..., 1:] + size)
    masks = rows[..., :, None] & cols[..., None, :]  # (n, 2, 64, 64)
    dist = np.linalg.norm(corners[:, 0] - corners[:, 1], axis=-1)  # (n,)
    y = (dist > np.median(dist)).astype(np.int64)
    coord_x = np.broadcast_to((grid / 64.0)[None, :], (64, 64))  # col / 64, as placeq.features
    coord_y = np.broadcast_to((grid / 64.0)[:, None], (64, 64))  # row / 64
    if nofeat:
        x = np.zeros((n, 2, 64, 64), dtype=np.float32)
        x[:, 0] = np.where(masks[:, 0], 0.25, 0.0) + np.where(masks[:, 1] & ~masks[:, 0], 0.5, 0.0)
        return x, y
    x = np.zeros((n, 18, 64, 64), dtype=np.float32)
    for k, intensity in ((0, 0.25), (1, 0.5)):
        x[:, 3 * k] = np.where(masks[:, k], intensity, 0.0)
        x[:, 3 * k + 1] = np.where(masks[:, k], coord_x, 0.0)
        x[:, 3 * k + 2] = np.where(masks[:, k], coord_y, 0.0)
    return x, y
