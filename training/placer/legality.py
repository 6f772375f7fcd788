"""Independent legality check of a PlacementBatch against its circuit (numpy only; used by tests and the CLI).

Legal means: every pair of devices at least `spacing_um` apart (no overlap), every coordinate on the grid and
inside the boundary (the first quadrant and, when given, the outline), each matched pair mirrored exactly about
one vertical axis shared with the self-symmetric devices, and every pin inside its device. Symmetry is checked in
integer grid units, so "exact" means an error of exactly 0, not a float tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from placeq.batch import PlacementBatch
from placeq.domain import Circuit


@dataclass(frozen=True)
class LegalityReport:
    """Per-placement violations (B,); a placement is legal when all are zero."""

    overlaps: np.ndarray  # (B,) int: device pairs closer than the spacing
    off_grid: np.ndarray  # (B,) int: coordinates not on the grid
    outside: np.ndarray  # (B,) int: devices outside the boundary
    symmetry_error: np.ndarray  # (B,) int: largest asymmetry in grid units
    pins_outside: np.ndarray  # (B,) int: pins not inside their device

    @property
    def legal(self) -> np.ndarray:
        """(B,) bool."""
        legal: np.ndarray = (self.overlaps == 0) & (self.off_grid == 0) & (self.outside == 0) & (
            self.symmetry_error == 0
        ) & (self.pins_outside == 0)
        return legal

    @property
    def ok(self) -> bool:
        return bool(self.legal.all())

    def problems(self, limit: int = 5) -> list[str]:
        """Human-readable lines for the first illegal placements."""
        out = []
        for i in np.flatnonzero(~self.legal)[:limit]:
            out.append(
                f"placement {i}: {self.overlaps[i]} overlapping pairs, {self.off_grid[i]} off-grid values, "
                f"{self.outside[i]} devices outside, symmetry error {self.symmetry_error[i]} grid, "
                f"{self.pins_outside[i]} pins outside"
            )
        return out


def check_legal(batch: PlacementBatch, circuit: Circuit, *, grid_um: float = 0.05, spacing_um: float = 0.2,
                outline: tuple[float, float] | None = None, chunk: int = 1024) -> LegalityReport:
    """Check every placement of `batch` (see module docstring). `outline` (W, H) um bounds the bounding box.

    Works on `chunk` placements at a time: the pair tests are (B, N, N), 200 MB per array for a full space.
    """
    parts = [_check_chunk(batch.take(slice(i, i + chunk)), circuit, grid_um, spacing_um, outline)
             for i in range(0, max(len(batch), 1), chunk)]
    return LegalityReport(*(np.concatenate([getattr(r, f.name) for r in parts]) for f in fields(LegalityReport)))


def _check_chunk(batch: PlacementBatch, circuit: Circuit, grid_um: float, spacing_um: float,
                 outline: tuple[float, float] | None) -> LegalityReport:
    g = batch.boxes / grid_um  # (B, N, 4)
    gi = np.round(g)
    off_grid = (np.abs(g - gi) > 1e-6).sum(axis=(1, 2))
    x0, y0, w, h = (gi[..., k].astype(np.int64) for k in range(4))
    x1, y1 = x0 + w, y0 + h
    s = round(spacing_um / grid_um)
    gap_x = np.maximum(x0[:, :, None] - x1[:, None, :], x0[:, None, :] - x1[:, :, None])  # (B, N, N)
    gap_y = np.maximum(y0[:, :, None] - y1[:, None, :], y0[:, None, :] - y1[:, :, None])
    close = (gap_x < s) & (gap_y < s)
    n = x0.shape[1]
    close &= np.triu(np.ones((n, n), dtype=bool), k=1)
    overlaps = close.sum(axis=(1, 2))
    outside = ((x0 < 0) | (y0 < 0)).sum(axis=1)
    if outline is not None:
        ow, oh = (round(v / grid_um + 1e-9) for v in outline)
        outside += ((x1 > ow) | (y1 > oh)).sum(axis=1)
    index = {name: i for i, name in enumerate(batch.device_names)}
    # Twice the centre x: pairs give 2*axis = cx_p + cx_q, self-symmetric devices 2*axis = 2*cx.
    axes2, errors = [], []
    for a, b in circuit.symmetry_pairs:
        i, j = index[a], index[b]
        axes2.append(x0[:, i] + x1[:, i] + x0[:, j] + x1[:, j])
        errors.append(np.abs(y0[:, i] - y0[:, j]))
        errors.append(np.abs(w[:, i] - w[:, j]) + np.abs(h[:, i] - h[:, j]))
    for name in circuit.self_symmetric:
        i = index[name]
        axes2.append(2 * (x0[:, i] + x1[:, i]))
    sym = np.zeros(len(batch), dtype=np.int64)
    if axes2:
        stacked = np.stack(axes2, axis=1)  # (B, K + S) 4 * axis
        sym = np.maximum(sym, (stacked.max(1) - stacked.min(1) + 3) // 4)
    for e in errors:
        sym = np.maximum(sym, e)
    dev = batch.pin_device
    pb = batch.pin_boxes
    bx = batch.boxes[:, dev]  # (B, P, 4)
    tol = 1e-6
    pins_outside = (
        (pb[..., 0] < bx[..., 0] - tol)
        | (pb[..., 1] < bx[..., 1] - tol)
        | (pb[..., 2] > bx[..., 0] + bx[..., 2] + tol)
        | (pb[..., 3] > bx[..., 1] + bx[..., 3] + tol)
    ).sum(axis=1)
    return LegalityReport(overlaps, off_grid, outside, sym, pins_outside)
