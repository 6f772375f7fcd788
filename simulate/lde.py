"""Layout-dependent device effects from device boxes, vectorized over placements (equations: `techfile`).

All three turn a placement into per-device threshold shifts (and a current-factor scale), which is how a
placement reaches the simulator besides wires: a linear process gradient (matched devices placed apart
mismatch; common-centroid and interdigitated arrangements cancel it to first order), well proximity (devices near
the layout edge shift) and neighbour spacing (a device crowded by a neighbour shifts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulate.techfile import Tech


@dataclass(frozen=True)
class DeviceShifts:
    """Per placement and device: dVth (V, positive raises |Vth|) and the current-factor scale beta/beta0."""

    dvth: np.ndarray  # (B, N) float64
    beta: np.ndarray  # (B, N) float64


def centres(boxes: np.ndarray) -> np.ndarray:
    """(B, N, 2) device centres from (B, N, 4) x, y, w, h boxes."""
    return boxes[..., :2] + 0.5 * boxes[..., 2:]


def layout_frame(boxes: np.ndarray) -> np.ndarray:
    """(B, 4) bounding box x0, y0, x1, y1 of all devices of each placement."""
    lo = boxes[..., :2].min(axis=1)
    hi = (boxes[..., :2] + boxes[..., 2:]).max(axis=1)
    return np.concatenate([lo, hi], axis=1)


def gradient(boxes: np.ndarray, tech: Tech) -> tuple[np.ndarray, np.ndarray]:
    """(dVth, beta scale), both (B, N): linear in the device centre relative to the layout's centre."""
    frame = layout_frame(boxes)
    origin = 0.5 * (frame[:, None, :2] + frame[:, None, 2:])  # (B, 1, 2)
    rel = centres(boxes) - origin  # (B, N, 2)
    dvth = tech.vth_grad_x * rel[..., 0] + tech.vth_grad_y * rel[..., 1]
    beta = 1.0 + tech.beta_grad_x * rel[..., 0] + tech.beta_grad_y * rel[..., 1]
    return dvth, beta


def edge_distance(boxes: np.ndarray) -> np.ndarray:
    """(B, N) distance (um) of each device box to the nearest edge of the layout frame."""
    frame = layout_frame(boxes)[:, None, :]  # (B, 1, 4)
    x0, y0 = boxes[..., 0], boxes[..., 1]
    x1, y1 = x0 + boxes[..., 2], y0 + boxes[..., 3]
    sides = [x0 - frame[..., 0], y0 - frame[..., 1], frame[..., 2] - x1, frame[..., 3] - y1]
    return np.asarray(np.minimum.reduce(sides))


def neighbour_gap(boxes: np.ndarray) -> np.ndarray:
    """(B, N) edge-to-edge gap (um) to the nearest other device (Chebyshev gap of the two boxes, >= 0)."""
    x0, y0 = boxes[..., 0], boxes[..., 1]
    x1, y1 = x0 + boxes[..., 2], y0 + boxes[..., 3]
    gx = np.maximum(x0[:, :, None] - x1[:, None, :], x0[:, None, :] - x1[:, :, None])  # (B, N, N)
    gy = np.maximum(y0[:, :, None] - y1[:, None, :], y0[:, None, :] - y1[:, :, None])
    gap = np.maximum(np.maximum(gx, gy), 0.0)
    n = boxes.shape[1]
    gap[:, np.arange(n), np.arange(n)] = np.inf
    return np.asarray(gap.min(axis=2))


def device_shifts(boxes: np.ndarray, is_mos: np.ndarray, tech: Tech) -> DeviceShifts:
    """All device effects of (B, N, 4) boxes; passives (is_mos False) get dVth 0 and beta 1."""
    dvth, beta = gradient(boxes, tech)
    dvth = dvth + tech.wpe_dvth * np.exp(-np.maximum(edge_distance(boxes), 0.0) / tech.wpe_decay_um)
    gap = neighbour_gap(boxes)
    near = gap < tech.spacing_max_um
    dvth = dvth + np.where(near, tech.spacing_dvth * np.exp(-np.where(near, gap, 0.0) / tech.spacing_decay_um), 0.0)
    mos = np.asarray(is_mos, dtype=bool)[None, :]
    return DeviceShifts(dvth=np.where(mos, dvth, 0.0), beta=np.where(mos, beta, 1.0))
