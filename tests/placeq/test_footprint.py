"""Device footprints: sizes follow the documented rules, pins sit inside the outline, everything is on the snap."""

from __future__ import annotations

import math

import pytest

from placeq.domain import Device, DeviceKind
from placeq.footprint import DEFAULT_CAP_F, SNAP_UM, footprint


def _nmos(w: float, l: float, nf: int = 1, m: int = 1) -> Device:  # noqa: E741
    return Device(name="M1", kind=DeviceKind.NMOS, terminals={"D": "d", "G": "g", "S": "s", "B": "b"},
                  w=w, l=l, nf=nf, m=m)


def _on_snap(v: float) -> bool:
    return abs(v / SNAP_UM - round(v / SNAP_UM)) < 1e-9


def test_mosfet_grows_with_fingers_length_and_width() -> None:
    base = footprint(_nmos(4.0, 0.2, nf=2))
    assert footprint(_nmos(8.0, 0.2, nf=4)).w > base.w  # more fingers: wider
    assert footprint(_nmos(8.0, 0.2, nf=4)).h == base.h  # same finger width: same height
    assert footprint(_nmos(4.0, 1.0, nf=2)).w > base.w  # longer gates: wider
    assert footprint(_nmos(8.0, 0.2, nf=2)).h == pytest.approx(base.h + 2.0)  # 2 um wider fingers
    assert footprint(_nmos(4.0, 0.2, nf=2, m=2)).h > 2 * 2.0  # m copies stack as rows
    assert all(_on_snap(v) for v in (base.w, base.h))


def test_mosfet_pins_stack_bulk_source_drain_gate_inside_outline() -> None:
    fp = footprint(_nmos(10.0, 0.5, nf=5, m=2))
    assert set(fp.pins) == {"D", "G", "S", "B"}
    ys = [fp.pins[t][1] for t in ("B", "S", "D", "G")]
    assert ys == sorted(ys)  # bottom to top: tap, source strap, drain strap, gate strap
    for x0, y0, x1, y1 in fp.pins.values():
        assert 0 <= x0 < x1 <= fp.w and 0 <= y0 < y1 <= fp.h


def test_passives_scale_with_value_and_default_when_unsized() -> None:
    cap = Device(name="C1", kind=DeviceKind.CAP, terminals={"PLUS": "a", "MINUS": "b"}, value=400e-15)
    small = cap.model_copy(update={"value": 100e-15})
    assert footprint(cap).w * footprint(cap).h > 3 * footprint(small).w * footprint(small).h
    unsized = cap.model_copy(update={"value": None})
    assert footprint(unsized) == footprint(cap.model_copy(update={"value": DEFAULT_CAP_F}))
    side = math.sqrt(DEFAULT_CAP_F / 2e-15)
    assert footprint(unsized).w == pytest.approx(side + 0.6, abs=SNAP_UM)
    res = Device(name="R1", kind=DeviceKind.RES, terminals={"PLUS": "a", "MINUS": "b", "B": "vss"}, value=20e3)
    short = res.model_copy(update={"value": 2e3})
    assert footprint(res).w > footprint(short).w  # 20 um of poly folds into two segments
    assert set(footprint(res).pins) == {"PLUS", "MINUS", "B"}
    assert footprint(res.model_copy(update={"value": None})).h > 0


def test_footprint_is_deterministic() -> None:
    d = _nmos(7.3, 0.13, nf=3)
    assert footprint(d) == footprint(d)
