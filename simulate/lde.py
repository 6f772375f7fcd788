"""Layout-dependent device effects from device boxes, vectorized over placements (sources: `techfile`).

What a placement changes in a transistor, computed the way an extraction flow feeds it to BSIM4:
- **Well proximity (WPE)**: every MOSFET gets the BSIM4 instance parameter `sc`, the distance from its active
  area to the nearest n-well edge. PMOS sit in n-wells (each PMOS's active plus `nwell_enclosure_um`; wells closer
  than `nwell_space_um` are drawn as one, as layout tools merge them), so a PMOS in the middle of a merged well is
  far from its edge and one at the well's rim is not. NMOS sit in the p-well, whose edge is the n-well's edge.
  BSIM4 (`wpemod=1`) turns `sc` into SCA/SCB/SCC and the threshold and mobility shifts of the model cards.
- **Length of diffusion (STI stress)**: `sa`, `sb`, `sd` from the device's footprint (gate to diffusion edge,
  finger pitch); BSIM4's stress model turns them into mobility and threshold shifts. Our placer never merges two
  devices' diffusions, so these are the same in every placement; they move the operating point, not the ranking.
- **Process gradient**: BSIM4 has no parameter for it, so it stays a `delvto` (threshold) and a W scale (current
  factor) linear in the device centre relative to the layout centre, for a gradient vector g (V/um). Its
  direction on a given die is unknown at layout time; `label` measures the metric over a distribution of g.
"""

from __future__ import annotations

import numpy as np

from placeq.footprint import DIFF_END, MARGIN, SD_PITCH

FAR_UM = 100.0  # `sc` of a device with no n-well in reach: BSIM4's SCA ~ scref^2 / (sc (sc + w)) ~ 0


def centres(boxes: np.ndarray) -> np.ndarray:
    """(B, N, 2) device centres from (B, N, 4) x, y, w, h boxes."""
    return boxes[..., :2] + 0.5 * boxes[..., 2:]


def layout_frame(boxes: np.ndarray) -> np.ndarray:
    """(B, 4) bounding box x0, y0, x1, y1 of all devices of each placement."""
    lo = boxes[..., :2].min(axis=1)
    hi = (boxes[..., :2] + boxes[..., 2:]).max(axis=1)
    return np.concatenate([lo, hi], axis=1)


def gradient(boxes: np.ndarray, g_vth: tuple[float, float], g_beta: tuple[float, float]) -> tuple[
        np.ndarray, np.ndarray]:
    """(dVth, beta scale), both (B, N), for threshold gradient `g_vth` (V/um) and current-factor gradient `g_beta`
    (1/um): linear in the device centre relative to the layout's centre."""
    frame = layout_frame(boxes)
    origin = 0.5 * (frame[:, None, :2] + frame[:, None, 2:])  # (B, 1, 2)
    rel = centres(boxes) - origin  # (B, N, 2)
    dvth = g_vth[0] * rel[..., 0] + g_vth[1] * rel[..., 1]
    beta = 1.0 + g_beta[0] * rel[..., 0] + g_beta[1] * rel[..., 1]
    return dvth, beta


def active_areas(boxes: np.ndarray) -> np.ndarray:
    """(B, N, 4) x0, y0, x1, y1 of each device's active area: its outline less the footprint's keep-out ring."""
    lo = boxes[..., :2] + MARGIN
    hi = boxes[..., :2] + boxes[..., 2:] - MARGIN
    return np.concatenate([lo, hi], axis=-1)


def _rect_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(B, N, P) Euclidean distance between rectangles a (B, N, 4) and b (B, P, 4) (0 when they touch)."""
    gx = np.maximum(np.maximum(b[:, None, :, 0] - a[:, :, None, 2], a[:, :, None, 0] - b[:, None, :, 2]), 0.0)
    gy = np.maximum(np.maximum(b[:, None, :, 1] - a[:, :, None, 3], a[:, :, None, 1] - b[:, None, :, 3]), 0.0)
    return np.asarray(np.hypot(gx, gy))


def _ray_to_edge(act: np.ndarray, wells: np.ndarray, half: float, axis: int, sign: int) -> np.ndarray:
    """(B, N) distance from each active's side (axis 0 = x, 1 = y; sign +1 = towards larger coordinates) to where
    the union of `wells` ends along the active's centre line. Wells are grown by `half` on every side so that
    wells closer than 2 * half join, and the join is taken back at the end."""
    other = 1 - axis
    line = 0.5 * (act[..., other] + act[..., other + 2])  # (B, N) centre line coordinate
    crosses = (wells[:, None, :, other] - half <= line[..., None]) & (line[..., None] <= wells[:, None, :, other + 2]
                                                                         + half)  # (B, N, P)
    lo = wells[:, None, :, axis] - half  # (B, 1, P)
    hi = wells[:, None, :, axis + 2] + half
    if sign > 0:
        start = act[..., axis + 2]
        reach = start.copy()
        for _ in range(wells.shape[1]):
            ext = np.where(crosses & (lo <= reach[..., None]), hi, -np.inf).max(axis=-1, initial=-np.inf)
            reach = np.maximum(reach, ext)
        return np.asarray(reach - half - start)
    start = act[..., axis]
    reach = start.copy()
    for _ in range(wells.shape[1]):
        ext = np.where(crosses & (hi >= reach[..., None]), lo, np.inf).min(axis=-1, initial=np.inf)
        reach = np.minimum(reach, ext)
    return np.asarray(start - (reach + half))


def well_distance(boxes: np.ndarray, is_pmos: np.ndarray, is_nmos: np.ndarray, enclosure_um: float,
                  space_um: float, floor_um: float) -> np.ndarray:
    """(B, N) `sc` (um): each MOSFET's distance to the nearest n-well edge, at least `floor_um`; FAR_UM where no
    n-well is in reach; 0 for devices that are neither (passives carry no `sc`)."""
    pmos = np.flatnonzero(np.asarray(is_pmos, dtype=bool))
    nmos = np.asarray(is_nmos, dtype=bool)
    act = active_areas(boxes)
    out = np.zeros(boxes.shape[:2])
    out[:, nmos] = FAR_UM
    if len(pmos) == 0:
        return out
    wells = act[:, pmos].copy()
    wells[..., :2] -= enclosure_um
    wells[..., 2:] += enclosure_um
    if nmos.any():  # outside every well: distance to the nearest one (distance to a union = min over its parts)
        d = _rect_distance(act[:, nmos], wells).min(axis=-1)
        out[:, nmos] = np.minimum(np.maximum(d, floor_um), FAR_UM)
    half = 0.5 * space_um
    inside = act[:, pmos]
    rays = [_ray_to_edge(inside, wells, half, axis, sign) for axis in (0, 1) for sign in (1, -1)]
    out[:, pmos] = np.maximum(np.minimum.reduce(rays), floor_um)
    return out


def diffusion() -> tuple[float, float, float]:
    """(sa, sb, sd) in um of every MOSFET, from the footprint rules: the outer gates are a contacted source/drain
    strip plus the diffusion end away from the diffusion edge, and fingers are a strip apart (BSIM4 averages the
    inner fingers' stress from these and nf)."""
    edge = SD_PITCH + DIFF_END
    return edge, edge, SD_PITCH


__all__ = ["FAR_UM", "active_areas", "centres", "diffusion", "gradient", "layout_frame", "well_distance"]
