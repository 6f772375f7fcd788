"""The rasterizer: hand-computed golden images, a slow per-pixel reference, and invariance properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from placeq.batch import PlacementBatch
from placeq.domain import (
    KIND_INTENSITY,
    SUBCIRCUITS,
    Box,
    DeviceKind,
    Pin,
    PlacedDevice,
    Placement,
    Subcircuit,
)
from placeq.errors import InputError
from placeq.features import (
    FEATURE_SETS,
    IMAGE_SIZE,
    N_CHANNELS,
    NOFEAT_CHANNELS,
    channel,
    iter_rasterize,
    pixel_spans,
    rasterize,
    rasterize_batch,
)

FS, OS, FB, CM, BI = SUBCIRCUITS
N, P, C, R = DeviceKind.NMOS, DeviceKind.PMOS, DeviceKind.CAP, DeviceKind.RES
ROUTING = channel("routing_demand")


def dev(
    name: str, kind: DeviceKind, tags: tuple[Subcircuit, ...], x: float, y: float, w: float, h: float
) -> PlacedDevice:
    return PlacedDevice(name=name, kind=kind, tags=tags, x=x, y=y, w=w, h=h)


def pin(device: str, terminal: str, net: str, x0: float, y0: float, x1: float, y1: float) -> Pin:
    return Pin(device=device, terminal=terminal, net=net, box=Box(x0=x0, y0=y0, x1=x1, y1=y1))


def coords(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Algorithm 1 written out: x = column / 64, y = row / 64 where the image is lit."""
    cx = np.zeros_like(image)
    cy = np.zeros_like(image)
    for row in range(IMAGE_SIZE):
        for col in range(IMAGE_SIZE):
            if image[row, col] > 0:
                cx[row, col] = col / 64
                cy[row, col] = row / 64
    return cx, cy


# ---------------------------------------------------------------------------------------------- golden images


def test_two_devices_in_a_square_frame() -> None:
    # Frame (0,0)-(2,2): 32 pixels per um. A sits bottom-left, B top-right; B is also in the bias image.
    p = Placement(
        design="g",
        devices=(dev("A", N, (FS,), 0, 0, 1, 1), dev("B", P, (FS, BI), 1, 1, 1, 1)),
    )
    f = rasterize(p)
    assert f.shape == (N_CHANNELS, 64, 64) == (18, 64, 64)
    assert f.dtype == np.float32
    first = np.zeros((64, 64), np.float32)
    first[32:, :32] = 0.25  # NMOS A: bottom rows (low y), left columns
    first[:32, 32:] = 0.5  # PMOS B: top rows (high y), right columns
    bias = np.zeros((64, 64), np.float32)
    bias[:32, 32:] = 0.5
    np.testing.assert_array_equal(f[0], first)
    np.testing.assert_array_equal(f[channel("bias")], bias)
    for name in ("other_stage", "feedback", "cmfb", "routing_demand"):
        assert not f[channel(name) : channel(name) + 3].any(), name
    # Coordinate channels of the first-stage image, by hand: lit pixel (row 40, col 10) -> (10/64, 40/64).
    assert f[1, 40, 10] == pytest.approx(10 / 64) and f[2, 40, 10] == pytest.approx(40 / 64)
    assert f[1, 10, 40] == pytest.approx(40 / 64) and f[2, 10, 40] == pytest.approx(10 / 64)
    assert f[1, 10, 10] == 0 and f[2, 10, 10] == 0  # dark pixel
    cx, cy = coords(first)
    np.testing.assert_array_equal(f[channel("first_stage", "coord_x")], cx)
    np.testing.assert_array_equal(f[channel("first_stage", "coord_y")], cy)
    cx, cy = coords(bias)
    np.testing.assert_array_equal(f[channel("bias", "coord_x")], cx)
    np.testing.assert_array_equal(f[channel("bias", "coord_y")], cy)


def test_wide_placement_keeps_its_aspect_ratio_centred() -> None:
    # 4 um x 1 um: square frame of side 4 (16 px/um), the strip is centred on rows 24..39.
    p = Placement(design="g", devices=(dev("A", N, (OS,), 0, 0, 2, 1), dev("C", C, (OS,), 2, 0, 2, 1)))
    img = rasterize(p)[channel("other_stage")]
    expected = np.zeros((64, 64), np.float32)
    expected[24:40, :32] = 0.25
    expected[24:40, 32:] = 0.75
    np.testing.assert_array_equal(img, expected)


def test_overlapping_devices_take_the_brightest_kind() -> None:
    # A resistor over a capacitor over an NMOS: each pixel shows the max intensity covering it.
    p = Placement(
        design="g",
        devices=(
            dev("M", N, (FB,), 0, 0, 4, 4),
            dev("C", C, (FB,), 0, 0, 2, 2),
            dev("R", R, (FB,), 0, 0, 1, 1),
        ),
    )
    expected = np.full((64, 64), 0.25, np.float32)
    expected[32:, :32] = 0.75
    expected[48:, :16] = 1.0
    np.testing.assert_array_equal(rasterize(p)[channel("feedback")], expected)


def test_a_device_thinner_than_a_pixel_still_shows_as_one_pixel() -> None:
    # Frame (0,0)-(64,64), 1 px/um; a 0.1 x 0.1 um device at (10.2, 50.3) covers no pixel centre: it takes the
    # pixel of its midpoint, column 10, row floor(64 - 50.35) = 13.
    p = Placement(
        design="g",
        devices=(
            dev("BIG", P, (CM,), 0, 0, 64, 1),
            dev("TOP", P, (CM,), 0, 63, 1, 1),
            dev("T", N, (CM,), 10.2, 50.3, 0.1, 0.1),
        ),
    )
    img = rasterize(p)[channel("cmfb")]
    assert img[13, 10] == 0.25
    assert np.count_nonzero(img == 0.25) == 1
    # The 64 x 1 um strip covers exactly the bottom row.
    np.testing.assert_array_equal(img[63], np.full(64, 0.5, np.float32))


def test_routing_demand_counts_net_boxes_over_routed_nets() -> None:
    # Frame (0,0)-(4,4), 16 px/um. Net a spans the whole frame, net b the bottom-left quarter, net c has a
    # single pin (not routed). Demand = covering boxes / 2 routed nets.
    p = Placement(
        design="g",
        devices=(dev("A", N, (FS,), 0, 0, 2, 2), dev("B", N, (FS,), 2, 2, 2, 2)),
        pins=(
            pin("A", "D", "a", 0, 0, 0.5, 0.5),
            pin("B", "D", "a", 3.5, 3.5, 4, 4),
            pin("A", "G", "b", 0, 1.5, 0.5, 2),
            pin("A", "S", "b", 1.5, 0, 2, 0.5),
            pin("B", "G", "c", 2, 2, 3, 3),
        ),
    )
    f = rasterize(p)
    expected = np.full((64, 64), 0.5, np.float32)
    expected[32:, :32] = 1.0
    np.testing.assert_array_equal(f[ROUTING], expected)
    cx, cy = coords(expected)
    np.testing.assert_array_equal(f[ROUTING + 1], cx)
    np.testing.assert_array_equal(f[ROUTING + 2], cy)


def test_no_routed_net_gives_an_empty_routing_image() -> None:
    p = Placement(design="g", devices=(dev("A", N, (FS,), 0, 0, 1, 1),), pins=(pin("A", "D", "x", 0, 0, 1, 1),))
    assert not rasterize(p)[ROUTING:].any()


def test_nofeat_puts_all_devices_in_one_image_then_routing() -> None:
    p = Placement(
        design="g",
        devices=(dev("A", N, (FS,), 0, 0, 1, 1), dev("B", P, (), 1, 1, 1, 1)),  # B has no subcircuit tag
        pins=(pin("A", "D", "n", 0, 0, 0.5, 0.5), pin("B", "D", "n", 1.5, 1.5, 2, 2)),
    )
    nf = rasterize(p, nofeat=True)
    assert nf.shape == (len(NOFEAT_CHANNELS), 64, 64) == (2, 64, 64) and nf.dtype == np.float32
    devices = np.zeros((64, 64), np.float32)
    devices[32:, :32] = 0.25
    devices[:32, 32:] = 0.5
    np.testing.assert_array_equal(nf[0], devices)
    np.testing.assert_array_equal(nf[1], np.ones((64, 64), np.float32))
    feat = rasterize(p)
    np.testing.assert_array_equal(nf[1], feat[ROUTING])
    assert not feat[:ROUTING:3, :32, 32:].any()  # the untagged device is in no subcircuit image


def test_channel_layout() -> None:
    assert FEATURE_SETS == ("first_stage", "other_stage", "feedback", "cmfb", "bias", "routing_demand")
    assert [channel(s) for s in FEATURE_SETS] == [0, 3, 6, 9, 12, 15]
    assert channel("bias", "coord_y") == 14


@pytest.mark.parametrize(
    ("lo", "hi", "first", "stop"),
    [
        (0.0, 64.0, 0, 64),
        (0.5, 1.5, 0, 1),  # centre 0.5 is in [0.5, 1.5), centre 1.5 is not
        (0.6, 1.4, 1, 2),  # covers no centre: the midpoint's pixel
        (63.9, 64.0, 63, 64),
        (10.0, 10.0, 10, 11),  # zero width
    ],
)
def test_pixel_spans_rule(lo: float, hi: float, first: int, stop: int) -> None:
    f, s = pixel_spans(np.array([lo]), np.array([hi]))
    assert (int(f[0]), int(s[0])) == (first, stop)


# ---------------------------------------------------------------------------------- slow per-pixel reference


def _ref_axis(lo: float, hi: float) -> list[int]:
    pixels = [i for i in range(IMAGE_SIZE) if lo <= i + 0.5 < hi]
    return pixels or [min(max(math.floor(0.5 * (lo + hi)), 0), IMAGE_SIZE - 1)]


def reference_rasterize(p: Placement, nofeat: bool = False) -> np.ndarray:
    """Pixel by pixel from the documented rules (frame, centre coverage, max, net boxes, Algorithm 1)."""
    bb = p.bounding_box()
    side = max(bb.x1 - bb.x0, bb.y1 - bb.y0)
    cx, cy, s = 0.5 * (bb.x0 + bb.x1), 0.5 * (bb.y0 + bb.y1), 64 / side

    def cells(x0: float, y0: float, x1: float, y1: float) -> list[tuple[int, int]]:
        cols = _ref_axis((x0 - cx) * s + 32, (x1 - cx) * s + 32)
        rows = _ref_axis((cy - y1) * s + 32, (cy - y0) * s + 32)
        return [(r, c) for r in rows for c in cols]

    groups = [[d for d in p.devices]] if nofeat else [[d for d in p.devices if sc in d.tags] for sc in SUBCIRCUITS]
    images = []
    for devices in groups:
        img = np.zeros((64, 64), np.float32)
        for d in devices:
            for r, c in cells(d.x, d.y, d.x + d.w, d.y + d.h):
                img[r, c] = max(img[r, c], KIND_INTENSITY[d.kind])
        images.append(img)
    count = np.zeros((64, 64), np.float32)
    nets = [[q for q in p.pins if q.net == n] for n in p.nets()]
    routed = [pins for pins in nets if len(pins) >= 2]
    for pins in routed:
        box = (min(q.box.x0 for q in pins), min(q.box.y0 for q in pins))
        box += (max(q.box.x1 for q in pins), max(q.box.y1 for q in pins))
        for r, c in cells(*box):
            count[r, c] += 1
    images.append(count / np.float32(len(routed)) if routed else count)
    if nofeat:
        return np.stack(images)
    out = []
    for img in images:
        out += [img, *coords(img)]
    return np.stack(out)


def random_placement(rng: np.random.Generator, n: int, overlap: bool = True, design: str = "r") -> Placement:
    kinds = list(DeviceKind)
    devices, pins = [], []
    for i in range(n):
        tags = tuple(sc for sc in SUBCIRCUITS if rng.random() < 0.3)
        w, h = rng.uniform(0.05, 6.0, 2) if rng.random() < 0.9 else rng.uniform(0.001, 0.05, 2)
        x, y = rng.uniform(-20, 20, 2) if overlap else (i * 7.0 + rng.uniform(0, 1), rng.uniform(0, 10))
        d = dev(f"D{i}", kinds[rng.integers(4)], tags, float(x), float(y), float(w), float(h))
        devices.append(d)
        for t in ("D", "G", "S")[: rng.integers(0, 4)]:
            px, py = d.x + rng.uniform(0, d.w), d.y + rng.uniform(0, d.h)
            pins.append(pin(d.name, t, f"n{rng.integers(0, max(2, n // 2))}", px, py, px + 0.1, py + 0.1))
    return Placement(design=design, devices=tuple(devices), pins=tuple(pins))


@pytest.mark.parametrize("nofeat", [False, True])
def test_vectorized_matches_reference_on_random_placements(nofeat: bool) -> None:
    rng = np.random.default_rng(7)
    for n in (1, 3, 9, 20):
        for _ in range(4):
            p = random_placement(rng, n)
            np.testing.assert_array_equal(rasterize(p, nofeat=nofeat), reference_rasterize(p, nofeat), err_msg=f"{n}")


def test_batch_of_one_design_matches_reference_per_placement_and_any_chunk() -> None:
    rng = np.random.default_rng(3)
    base = random_placement(rng, 12)
    placements = [base]
    for _ in range(9):  # same structure, new coordinates
        shift = rng.uniform(-10, 10, (len(base.devices), 2))
        devices = tuple(
            d.model_copy(update={"x": d.x + dx, "y": d.y + dy}) for d, (dx, dy) in zip(base.devices, shift, strict=True)
        )
        k = {d.name: i for i, d in enumerate(base.devices)}
        pins = tuple(
            q.model_copy(
                update={
                    "box": Box(
                        x0=q.box.x0 + shift[k[q.device], 0],
                        y0=q.box.y0 + shift[k[q.device], 1],
                        x1=q.box.x1 + shift[k[q.device], 0],
                        y1=q.box.y1 + shift[k[q.device], 1],
                    )
                }
            )
            for q in base.pins
        )
        placements.append(Placement(design=base.design, devices=devices, pins=pins))
    batch = PlacementBatch.from_placements(placements)
    whole = rasterize_batch(batch)
    assert whole.shape == (10, 18, 64, 64)
    for i, p in enumerate(batch.placements()):
        np.testing.assert_array_equal(whole[i], reference_rasterize(p), err_msg=f"placement {i}")
    np.testing.assert_array_equal(rasterize_batch(batch, chunk=3), whole)
    np.testing.assert_array_equal(np.concatenate(list(iter_rasterize(batch, chunk=4))), whole)
    assert [len(c) for c in iter_rasterize(batch, chunk=4)] == [4, 4, 2]
    buffer = np.full((10, 18, 64, 64), np.nan, np.float32)  # a reused buffer is overwritten everywhere
    assert rasterize_batch(batch, out=buffer) is buffer
    np.testing.assert_array_equal(buffer, whole)
    with pytest.raises(InputError, match="out"):
        rasterize_batch(batch, out=np.zeros((10, 2, 64, 64), np.float32))


def test_many_devices_of_one_kind_in_one_image_stay_exact() -> None:
    # 80 NMOS + one of every other kind in one image: digits need 7 bits each, beyond float32's 24 (float64 path).
    rng = np.random.default_rng(11)
    devices = [
        dev(f"M{i}", N, (FS,), float(rng.uniform(0, 30)), float(rng.uniform(0, 30)), 3.0, 3.0) for i in range(80)
    ]
    devices += [dev(k.value, k, (FS,), 5.0 * i, 5.0 * i, 4.0, 4.0) for i, k in enumerate((P, C, R))]
    p = Placement(design="many", devices=tuple(devices))
    np.testing.assert_array_equal(rasterize(p), reference_rasterize(p))
    np.testing.assert_array_equal(rasterize(p, nofeat=True), reference_rasterize(p, nofeat=True))


# ------------------------------------------------------------------------------------------------ properties

quarter = st.integers(-80, 80).map(lambda v: v / 4)  # dyadic values: translation and 2^k scaling stay exact
size = st.integers(1, 40).map(lambda v: v / 4)


@st.composite
def placements(draw: st.DrawFn) -> Placement:
    n = draw(st.integers(1, 6))
    devices, pins = [], []
    for i in range(n):
        tags = tuple(draw(st.sets(st.sampled_from(SUBCIRCUITS), max_size=3)))
        d = dev(
            f"D{i}", draw(st.sampled_from(list(DeviceKind))), tags, draw(quarter), draw(quarter), draw(size), draw(size)
        )
        devices.append(d)
        if draw(st.booleans()):
            pins.append(pin(d.name, "D", draw(st.sampled_from(["a", "b"])), d.x, d.y, d.x + d.w / 2, d.y + d.h / 2))
    return Placement(design="h", devices=tuple(devices), pins=tuple(pins))


def transformed(p: Placement, dx: float, dy: float, k: float) -> Placement:
    def box(b: Box) -> Box:
        return Box(x0=(b.x0 + dx) * k, y0=(b.y0 + dy) * k, x1=(b.x1 + dx) * k, y1=(b.y1 + dy) * k)

    devices = tuple(
        d.model_copy(update={"x": (d.x + dx) * k, "y": (d.y + dy) * k, "w": d.w * k, "h": d.h * k}) for d in p.devices
    )
    pins = tuple(q.model_copy(update={"box": box(q.box)}) for q in p.pins)
    return Placement(design=p.design, devices=devices, pins=pins)


@settings(max_examples=60, deadline=None)
@given(placements(), st.integers(-100, 100), st.integers(-100, 100), st.sampled_from([0.25, 0.5, 1.0, 2.0, 8.0]))
def test_invariant_to_translation_and_uniform_scale(p: Placement, dx: int, dy: int, k: float) -> None:
    f = rasterize(p)
    np.testing.assert_array_equal(rasterize(transformed(p, dx, dy, k)), f)
    assert f.shape == (18, 64, 64) and f.dtype == np.float32
    assert np.isfinite(f).all() and f.min() >= 0.0 and f.max() <= 1.0
    # Every device shows in each image of its tags, at the intensity of its kind or brighter.
    for sc in {t for d in p.devices for t in d.tags}:
        brightest = max(KIND_INTENSITY[d.kind] for d in p.devices if sc in d.tags)
        assert f[channel(sc.value)].max() == np.float32(brightest)
    nf = rasterize(p, nofeat=True)
    assert nf.shape == (2, 64, 64) and nf[0].max() == np.float32(max(KIND_INTENSITY[d.kind] for d in p.devices))
    np.testing.assert_array_equal(nf[1], f[ROUTING])


def test_a_device_with_two_tags_shows_in_both_images() -> None:
    p = Placement(design="g", devices=(dev("A", C, (FB, CM), 0, 0, 1, 1), dev("B", N, (BI,), 3, 3, 1, 1)))
    f = rasterize(p)
    lit = f[channel("feedback")] > 0
    assert lit.any()
    np.testing.assert_array_equal(f[channel("cmfb")] > 0, lit)
    assert set(np.unique(f[channel("feedback")])) == {0.0, 0.75}
    assert not (f[channel("bias")] > 0)[lit].any()
