"""Placement -> image tensors for the CNN (paper Sec. III-B and III-C, Algorithm 1, Table II).

*feat* form, ``(18, 64, 64)`` float32 per placement: six feature sets in the order `FEATURE_SETS` (the five
subcircuits of `placeq.domain.SUBCIRCUITS`, then routing demand), each as three channels (image, coord_x,
coord_y); channel ``3*k + c`` is component ``c`` of feature set ``k`` (see `channel`). *nofeat* form (the
paper's single-image baseline), ``(2, 64, 64)``: channel 0 all devices, channel 1 routing demand.

Geometry rules (deterministic; docs/features.md has pictures):

- Frame: a square of side max(width, height) of the placement's bounding box (devices and pins), centred on
  it. Keeping the aspect ratio keeps the devices' relative geometry (a stretched frame would make distances
  along the short side look longer), and the images become invariant to translating and uniformly scaling a
  placement (exactly so while the arithmetic is exact, e.g. power-of-two scales).
- Orientation: column 0 is the frame's left edge (min x); row 0 its top edge (max y), as a picture shows it.
- Coverage: pixel (row, col) is the unit square [col, col+1) x [row, row+1) of the 64x64 grid; a rectangle
  covers the pixels whose centres lie in it (half-open [lo, hi) per axis). A rectangle covering no centre
  along an axis (thinner than a pixel there) takes the one pixel holding its midpoint, so tiny devices and
  flat nets still show up.
- Devices: intensity by kind (Table II); overlapping devices combine by max. A device with several subcircuit
  tags appears in each of those images; an untagged one only in the *nofeat* image.
- Routing demand: for each net with >= 2 pins, its pin bounding box is counted on the pixels it covers; the
  count is divided by the number of such nets. A value is thus the fraction of routed nets whose box covers
  the pixel: in [0, 1] without clipping, so congestion hot spots stay distinguishable.
- Coordinate channels (Algorithm 1): coord_x = col / 64 and coord_y = row / 64 where the image is non-zero,
  else 0 (as in the paper, the leftmost column and the top row carry coordinate 0).

Speed: coverage is separable, so an image is a sum of outer products (row mask x column mask), i.e. one small
matrix product per image that BLAS runs. Max-of-intensity comes out of that single sum by weighting kind rank r
with 2^(bits*r), bits wide enough that a count never carries: the highest set bit of the exact integer sum
lies in the brightest covering kind's digit, so the float exponent (a shift) indexes a look-up table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from placeq.batch import PlacementBatch
from placeq.domain import KIND_INTENSITY, SUBCIRCUITS, Placement
from placeq.errors import InputError

IMAGE_SIZE = 64
# Feature-set names, in channel order: the five subcircuits (paper Sec. III-B), then routing demand.
FEATURE_SETS: tuple[str, ...] = (*(s.value for s in SUBCIRCUITS), "routing_demand")
# Components of each feature set: the image, then Algorithm 1's coordinate channels.
SET_COMPONENTS: tuple[str, ...] = ("image", "coord_x", "coord_y")
N_CHANNELS = len(FEATURE_SETS) * len(SET_COMPONENTS)  # 18
FEATURE_SHAPE: tuple[int, int, int] = (N_CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
# The paper's *nofeat* baseline: all devices in one image, then routing demand; no coordinate channels.
NOFEAT_CHANNELS: tuple[str, ...] = ("devices", "routing_demand")
N_NOFEAT_CHANNELS = len(NOFEAT_CHANNELS)
NOFEAT_SHAPE: tuple[int, int, int] = (N_NOFEAT_CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
# Placements rasterized at once: scratch memory stays a few MB (cache-sized) whatever the batch size;
# larger chunks are slower on one core (benchmarks/bench_rasterize.py), smaller ones pay Python overhead.
CHUNK = 64

_AXIS = np.arange(IMAGE_SIZE)
_GRID_X = (np.arange(IMAGE_SIZE, dtype=np.float32) / IMAGE_SIZE)[None, :]  # (1, 64): column / 64
_GRID_Y = (np.arange(IMAGE_SIZE, dtype=np.float32) / IMAGE_SIZE)[:, None]  # (64, 1): row / 64


def channel(feature_set: str, component: str = "image") -> int:
    """Index among the 18 channels of `feature_set`'s `component` (``"image"``, ``"coord_x"``, ``"coord_y"``)."""
    return len(SET_COMPONENTS) * FEATURE_SETS.index(feature_set) + SET_COMPONENTS.index(component)


def pixel_spans(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels [first, stop) covered along one axis by intervals [lo, hi) given in pixel units (any shape).

    A pixel is covered when its centre i + 0.5 lies in [lo, hi); an interval covering no centre takes the
    pixel holding its midpoint. Results are int64 with 0 <= first < stop <= 64.
    """
    first = np.ceil(lo - 0.5)
    stop = np.ceil(hi - 0.5)
    thin = stop <= first
    mid = np.floor(0.5 * (lo + hi))
    first = np.clip(np.where(thin, mid, first), 0, IMAGE_SIZE - 1).astype(np.int64)
    stop = np.clip(np.where(thin, mid + 1.0, stop), first + 1, IMAGE_SIZE).astype(np.int64)
    return first, stop


@dataclass(frozen=True)
class _Plan:
    """What to draw for one design; shared by every placement of a batch."""

    members: np.ndarray  # (G, S) int64: device in each slot of each device image (padded with device 0)
    weights: np.ndarray  # (G, S) 2 ** (bits * kind rank); 0 in padding slots
    lut: np.ndarray  # (2 ** exponent width,) float32: biased float exponent of a pixel sum -> intensity
    dtype: type[np.floating]  # float32 when every pixel sum is exact in it, else float64
    net_pins: np.ndarray  # (Q,) int64: pins of the routed nets (>= 2 pins), grouped by net
    net_starts: np.ndarray  # (R,) int64: start of each routed net's run in net_pins


def _plan(batch: PlacementBatch, nofeat: bool) -> _Plan:
    n = len(batch.device_names)
    # Kinds ranked by intensity: the brighter kind must win the max, so it gets the higher digit.
    ranked = sorted(set(batch.kinds), key=lambda k: KIND_INTENSITY[k])
    rank = np.array([ranked.index(k) for k in batch.kinds], dtype=np.int64)  # (N,)
    member = np.ones((n, 1), dtype=bool) if nofeat else batch.tag_mask  # (N, G)
    groups = [np.flatnonzero(member[:, g]) for g in range(member.shape[1])]
    most = max((int(np.bincount(rank[d]).max()) for d in groups if len(d)), default=0)
    bits = max(1, most.bit_length())  # a digit holds the count of one kind in one image without carrying
    members = np.zeros((len(groups), max(1, max(len(d) for d in groups))), dtype=np.int64)
    weights = np.zeros(members.shape, dtype=np.float64)
    for g, devs in enumerate(groups):
        members[g, : len(devs)] = devs
        weights[g, : len(devs)] = 2.0 ** (bits * rank[devs])
    dtype: type[np.floating] = np.float32 if bits * len(ranked) <= 24 else np.float64
    bias = 127 if dtype is np.float32 else 1023
    lut = np.zeros(2 * (bias + 1), dtype=np.float32)  # exponent 0 (a zero sum) -> 0
    for e in range(bits * len(ranked)):
        lut[bias + e] = KIND_INTENSITY[ranked[e // bits]]
    order = np.argsort(batch.pin_net, kind="stable")
    _, counts = np.unique(batch.pin_net[order], return_counts=True)
    routed = counts >= 2
    net_starts = np.concatenate([[0], np.cumsum(counts[routed])[:-1]]) if routed.any() else np.zeros(0)
    return _Plan(
        members=members,
        weights=weights.astype(dtype),
        lut=lut,
        dtype=dtype,
        net_pins=order[np.repeat(routed, counts)].astype(np.int64),
        net_starts=net_starts.astype(np.int64),
    )


def _frame(dev: np.ndarray, pins: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre x, centre y and pixels per um of each placement's square frame, each (B, 1)."""
    boxes = np.concatenate([dev, pins], axis=1)  # (B, N+P, 4) x0, y0, x1, y1
    x0, y0 = boxes[..., 0].min(axis=1), boxes[..., 1].min(axis=1)
    x1, y1 = boxes[..., 2].max(axis=1), boxes[..., 3].max(axis=1)
    side = np.maximum(x1 - x0, y1 - y0)  # > 0: every device has positive w and h
    return (0.5 * (x0 + x1))[:, None], (0.5 * (y0 + y1))[:, None], (IMAGE_SIZE / side)[:, None]


def _to_pixels(rects: np.ndarray, cx: np.ndarray, cy: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(B, E, 4) um rectangles x0, y0, x1, y1 -> (B, E, 4) int64 spans row0, row_stop, col0, col_stop."""
    half = IMAGE_SIZE / 2
    c0, c1 = pixel_spans((rects[..., 0] - cx) * s + half, (rects[..., 2] - cx) * s + half)
    # y grows upwards and rows downwards: the top edge y1 maps to the smaller row.
    r0, r1 = pixel_spans((cy - rects[..., 3]) * s + half, (cy - rects[..., 1]) * s + half)
    return np.stack([r0, r1, c0, c1], axis=-1)


def _paint(spans: np.ndarray, weights: np.ndarray, dtype: type[np.floating]) -> np.ndarray:
    """Per-pixel weighted count of covering rectangles: (..., E, 4) spans, (..., E) weights -> (..., 64, 64).

    One matrix product of row masks (64, E) and column masks (E, 64) per image; exact for integer weights.
    """
    rows = (_AXIS[:, None] >= spans[..., None, :, 0]) & (_AXIS[:, None] < spans[..., None, :, 1])  # (..., 64, E)
    cols = (spans[..., 2, None] <= _AXIS) & (spans[..., 3, None] > _AXIS)  # (..., E, 64)
    sums: np.ndarray = np.matmul(rows * weights[..., None, :], cols.astype(dtype))
    return sums


def _net_boxes(pins: np.ndarray, plan: _Plan) -> np.ndarray:
    """(B, P, 4) pin boxes -> (B, R, 4) pin bounding box x0, y0, x1, y1 of each routed net."""
    grouped = pins[:, plan.net_pins]  # (B, Q, 4), grouped by net
    lo = np.minimum.reduceat(grouped[..., :2], plan.net_starts, axis=1)  # (B, R, 2)
    hi = np.maximum.reduceat(grouped[..., 2:], plan.net_starts, axis=1)  # (B, R, 2)
    return np.concatenate([lo, hi], axis=-1)


def _draw_images(batch: PlacementBatch, plan: _Plan, images: np.ndarray) -> None:
    """Fill `images` (B, G+1, 64, 64), maybe a strided view: the plan's G device images, then routing demand."""
    bx = batch.boxes  # (B, N, 4) x, y, w, h
    dev = np.concatenate([bx[..., :2], bx[..., :2] + bx[..., 2:]], axis=-1)  # (B, N, 4) x0, y0, x1, y1
    pins = batch.pin_boxes  # (B, P, 4)
    cx, cy, s = _frame(dev, pins)
    g = plan.members.shape[0]
    spans = _to_pixels(dev, cx, cy, s)[:, plan.members]  # (B, G, S, 4)
    sums = _paint(spans, plan.weights, plan.dtype)  # (B, G, 64, 64) exact integers >= 0
    is32 = plan.dtype is np.float32
    exponent = sums.view(np.int32 if is32 else np.int64)  # the sign bit is clear: bits above are the exponent
    np.right_shift(exponent, 23 if is32 else 52, out=exponent)
    images[:, :g] = plan.lut[exponent]
    n_routed = len(plan.net_starts)
    if n_routed:
        ones = np.ones(n_routed, dtype=np.float32)
        counts = _paint(_to_pixels(_net_boxes(pins, plan), cx, cy, s), ones, np.float32)  # (B, 64, 64)
        np.divide(counts, np.float32(n_routed), out=images[:, g])
    else:
        images[:, g] = 0.0


def _add_coords(sets: np.ndarray) -> None:
    """Algorithm 1 in place: (B, K, 3, 64, 64) with the images in [:, :, 0]; fills [:, :, 1] and [:, :, 2]."""
    on = sets[:, :, 0] > 0  # (B, K, 64, 64)
    np.multiply(on, _GRID_X, out=sets[:, :, 1])  # coord_x = column / 64
    np.multiply(on, _GRID_Y, out=sets[:, :, 2])  # coord_y = row / 64


def iter_rasterize(batch: PlacementBatch, *, nofeat: bool = False, chunk: int = CHUNK) -> Iterator[np.ndarray]:
    """Feature tensors chunk by chunk, (<= chunk, 18 or 2, 64, 64) float32, for streaming a whole design space.

    A design space of 16k placements is ~4.8 GB of features; a writer consuming this stays within a chunk.
    """
    plan = _plan(batch, nofeat)
    shape = NOFEAT_SHAPE if nofeat else FEATURE_SHAPE
    for start in range(0, len(batch), chunk):
        part = batch.take(slice(start, start + chunk))
        out = np.empty((len(part), *shape), dtype=np.float32)
        _fill(part, plan, out, nofeat)
        yield out


def rasterize_batch(
    batch: PlacementBatch, *, nofeat: bool = False, chunk: int = CHUNK, out: np.ndarray | None = None
) -> np.ndarray:
    """Feature tensors of every placement: (B, 18, 64, 64) float32, or (B, 2, 64, 64) with ``nofeat``.

    Works `chunk` placements at a time, writing straight into the result (295 KB per placement in *feat*).
    Pass `out` (C-contiguous float32 of that shape) to reuse a buffer: first-touching a fresh multi-GB array
    costs about as much as rasterizing into it.
    """
    shape = (len(batch), *(NOFEAT_SHAPE if nofeat else FEATURE_SHAPE))
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise InputError("out", f"expected a C-contiguous float32 array of shape {shape}, got {out.dtype} {out.shape}")
    plan = _plan(batch, nofeat)
    for start in range(0, len(batch), chunk):
        part = batch.take(slice(start, start + chunk))
        _fill(part, plan, out[start : start + len(part)], nofeat)
    return out


def _fill(part: PlacementBatch, plan: _Plan, out: np.ndarray, nofeat: bool) -> None:
    if nofeat:
        _draw_images(part, plan, out)  # (b, 2, 64, 64)
        return
    sets = out.reshape(len(part), len(FEATURE_SETS), len(SET_COMPONENTS), IMAGE_SIZE, IMAGE_SIZE)
    _draw_images(part, plan, sets[:, :, 0])
    _add_coords(sets)


def rasterize(placement: Placement, *, nofeat: bool = False) -> np.ndarray:
    """Feature tensor of one placement: (18, 64, 64) float32, or (2, 64, 64) with ``nofeat``."""
    features: np.ndarray = rasterize_batch(PlacementBatch.from_placements([placement]), nofeat=nofeat)[0]
    return features
