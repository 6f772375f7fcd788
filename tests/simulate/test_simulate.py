"""Labelling simulation with real ngspice: the physics a designer expects, failures, cache, both backends."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from placeq.batch import PlacementBatch
from placeq.circuits import load_design
from placeq.domain import Circuit
from placeq.footprint import footprint
from simulate.label import LabelCache, label_batch, netlist_path, simulate_values
from simulate.netlist import LayoutValues, build_template, layout_values, nominal_values
from simulate.techfile import Tech, load_tech

pytestmark = pytest.mark.ngspice

# only the effect under test: wires, no gradient, no well proximity, no stress
QUIET = dict(effects=("wires",))


def row_batch(circuit: Circuit, row_um: float = 60.0) -> PlacementBatch:
    """One simple legal placement: footprints left to right in rows of `row_um`, pins from the footprints."""
    boxes, pin_boxes, pin_device, pin_terminal, pin_net = [], [], [], [], []
    nets = circuit.nets()
    x = y = row_h = 0.0
    for n, dev in enumerate(circuit.devices):
        fp = footprint(dev)
        if x + fp.w > row_um:
            x, y, row_h = 0.0, y + row_h + 1.0, 0.0
        boxes.append((x, y, fp.w, fp.h))
        for term, (a, b, c, d) in fp.pins.items():
            pin_boxes.append((x + a, y + b, x + c, y + d))
            pin_device.append(n)
            pin_terminal.append(term)
            pin_net.append(nets.index(dev.terminals[term]))
        x, row_h = x + fp.w + 1.0, max(row_h, fp.h)
    return PlacementBatch(
        design=circuit.name, device_names=tuple(d.name for d in circuit.devices),
        kinds=tuple(d.kind for d in circuit.devices), tags=tuple(d.tags for d in circuit.devices),
        pin_device=np.array(pin_device), pin_terminal=tuple(pin_terminal), pin_net=np.array(pin_net),
        nets=tuple(nets), boxes=np.array([boxes], dtype=np.float64), pin_boxes=np.array([pin_boxes]),
    )


def moved(batch: PlacementBatch, moves: dict[str, tuple[float, float]]) -> PlacementBatch:
    """A copy with devices moved to new lower-left corners (their pins follow)."""
    boxes, pins = batch.boxes.copy(), batch.pin_boxes.copy()
    for name, (x, y) in moves.items():
        n = batch.device_names.index(name)
        dx, dy = x - boxes[0, n, 0], y - boxes[0, n, 1]
        boxes[0, n, :2] += (dx, dy)
        sel = batch.pin_device == n
        pins[0, sel] += (dx, dy, dx, dy)
    return dataclasses.replace(batch, boxes=boxes, pin_boxes=pins)


def offset_of(circuit: Circuit, batch: PlacementBatch, tech: Tech) -> float:
    """The signed offset of one placement under the technology's (first) gradient vector."""
    template, routing = build_template(circuit, batch, tech)
    g_vth, g_beta = tech.gradient_vectors()[0]
    (res,) = simulate_values(template, layout_values(circuit, batch, routing, tech, g_vth, g_beta), ac=False)
    assert res.ok, res.reason
    return res.offset


def nominal(circuit: Circuit) -> tuple[object, LayoutValues]:
    template, _ = build_template(circuit, row_batch(circuit), load_tech())
    return template, nominal_values(template)


def test_input_pair_vth_mismatch_of_5mv_gives_5mv_offset() -> None:
    circuit = load_design("ota1")
    template, values = nominal(circuit)
    (base,) = simulate_values(template, values)
    assert abs(base.offset) < 1e-6  # a schematic without layout effects has no offset
    shifted = dataclasses.replace(values, delvto=values.delvto.copy())
    shifted.delvto[0, 0] = 5e-3  # M1, the INP transistor
    (res,) = simulate_values(template, shifted)
    assert res.ok
    assert abs(res.offset) == pytest.approx(5e-3, rel=0.06)


def test_common_centroid_cancels_the_gradient() -> None:
    circuit = load_design("ota3")
    tech = dataclasses.replace(load_tech(), effects=("gradient",), gradient_label="fixed", vth_grad=100e-6,
                               beta_grad=0.0)
    # the loads stacked on one x in both variants, so only the input pair's arrangement differs
    base = moved(row_batch(circuit), {"M3": (10.0, 130.0), "M4": (10.0, 150.0)})
    w = base.boxes[0, 0, 2]
    side = moved(base, {"M1": (0.0, 80.0), "M2": (w + 20.0, 80.0)})  # apart along the gradient
    centred = moved(base, {"M1": (10.0, 80.0), "M2": (10.0, 100.0)})  # stacked: same x centre
    off_side, off_cc = offset_of(circuit, side, tech), offset_of(circuit, centred, tech)
    assert abs(off_side) == pytest.approx(100e-6 * (w + 20.0), rel=0.1)  # dVth = gradient x distance
    assert abs(off_cc) < abs(off_side) / 10


def test_asymmetric_source_route_raises_offset() -> None:
    circuit = load_design("ota1")
    tech = dataclasses.replace(load_tech(), **QUIET)
    base = row_batch(circuit, row_um=200.0)
    tail = base.boxes[0, base.device_names.index("M9")]
    w = base.boxes[0, 0, 2]
    y = tail[1] + tail[3] + 2.0
    symmetric = moved(base, {"M1": (tail[0] + tail[2] / 2 - w - 1.0, y), "M2": (tail[0] + tail[2] / 2 + 1.0, y)})
    lopsided = moved(symmetric, {"M1": (tail[0] - 60.0, y + 30.0)})
    off_sym, off_asym = offset_of(circuit, symmetric, tech), offset_of(circuit, lopsided, tech)
    assert abs(off_asym) > 5 * abs(off_sym)
    assert abs(off_asym) > 20e-6  # 60 um of extra source wire at ~40 uA is a visible IR drop


def test_cmrr_falls_as_load_mismatch_grows() -> None:
    circuit = load_design("ota4")
    template, values = nominal(circuit)
    load = circuit.devices.index(circuit.device("M3"))
    cmrr = []
    for dv in (0.5e-3, 2e-3, 8e-3):
        v = dataclasses.replace(values, delvto=values.delvto.copy())
        v.delvto[0, load] = -dv  # PMOS: negative delvto raises |Vth|
        (res,) = simulate_values(template, v)
        assert res.ok
        cmrr.append(-20 * np.log10(res.cm_gain))
    assert cmrr[0] > cmrr[1] > cmrr[2]
    assert cmrr[0] - cmrr[2] > 20  # 16x the mismatch: about 24 dB less CMRR


def test_unusable_placement_is_recorded_as_failed_with_reason(tmp_path: Path) -> None:
    circuit = load_design("ota3")
    batch = row_batch(circuit)
    two = dataclasses.replace(batch, boxes=np.repeat(batch.boxes, 2, 0), pin_boxes=np.repeat(batch.pin_boxes, 2, 0))
    wild = dataclasses.replace(load_tech(), vth_grad=0.05)  # 50 mV/um: the amplifier rails
    table = label_batch(circuit, two, tech=wild)
    assert table.status.tolist() == ["failed", "failed"]
    assert "linear region" in table.reason[0] and np.isnan(table.value).all()
    assert "(simulation with gradient along x)" in table.reason[0]  # which of the three runs failed
    ok = label_batch(circuit, two)
    assert ok.status.tolist() == ["ok", "ok"] and ok.reason == ("", "")


def test_cache_hit_returns_the_same_labels_without_simulating(tmp_path: Path) -> None:
    circuit = load_design("ota4")
    batch = row_batch(circuit)
    cache = tmp_path / "labels.sqlite"
    first = label_batch(circuit, batch, cache=cache)
    second = label_batch(circuit, batch, cache=cache)
    assert first.simulated == 1 and second.simulated == 0
    assert second.value.tolist() == first.value.tolist() and second.key == first.key
    other = label_batch(circuit, batch, cache=cache, tech=dataclasses.replace(load_tech(), vth_grad=41e-6))
    assert other.simulated == 1  # another technology is another key
    assert first.metric == "cmrr" and 40 < first.value[0] < 300


def test_dc_netlist_equals_full_netlist_and_batch_backend_agrees(tmp_path: Path) -> None:
    circuit = load_design("ota3")
    batch = moved(row_batch(circuit), {"M1": (0.0, 90.0)})
    dc = label_batch(circuit, batch, measure="both")
    full = label_batch(circuit, batch, measure="both", netlist_dir=tmp_path)  # every branch R and C
    assert full.offset[0] == pytest.approx(dc.offset[0], rel=1e-6, abs=1e-9)
    assert full.cmrr_db[0] == pytest.approx(dc.cmrr_db[0], abs=0.01)
    written = (tmp_path / "ota3_000000.cir").read_text()
    assert "CW" in written and ".control" in written and " sc=" in written and " sa=" in written
    assert {p.name for p in tmp_path.iterdir()} == {"ota3_000000.cir", "ota3_000000_gx.cir", "ota3_000000_gy.cir"}
    batch_backend = label_batch(circuit, batch, measure="both", backend="batch")  # ngspice -b, no nodeset
    assert batch_backend.ok[0]
    assert batch_backend.offset[0] == pytest.approx(dc.offset[0], abs=0.5e-6)  # print: 6 digits
    assert batch_backend.cmrr_db[0] == pytest.approx(dc.cmrr_db[0], abs=0.05)


def test_two_jobs_give_the_same_labels_as_one() -> None:
    circuit = load_design("ota4")
    base = row_batch(circuit)
    shifted = moved(base, {"M1": (0.0, 60.0)})
    batch = dataclasses.replace(base, boxes=np.concatenate([base.boxes, shifted.boxes] * 3),
                                pin_boxes=np.concatenate([base.pin_boxes, shifted.pin_boxes] * 3))
    one = label_batch(circuit, batch, jobs=1, chunk_size=2)
    two = label_batch(circuit, batch, jobs=2, chunk_size=2)
    assert one.value.tolist() == two.value.tolist()
    assert one.value[0] != one.value[1]


def test_cache_object_can_be_shared(tmp_path: Path) -> None:
    circuit = load_design("ota3")
    store = LabelCache(tmp_path / "c.sqlite")
    label_batch(circuit, row_batch(circuit), cache=store)
    assert label_batch(circuit, row_batch(circuit), cache=store).simulated == 0
    store.close()


@pytest.mark.parametrize("design", ["../escape", "/etc/escape", "a/../../b", "..", "a\\b", "ok.v2"])
def test_kept_netlists_stay_inside_their_directory(tmp_path: Path, design: str) -> None:
    """`placeq simulate --netlists DIR` writes DIR/<design>_<n>.cir: a design name never becomes a path, even
    one that got past the name check (issue 16, finding 4)."""
    path = netlist_path(tmp_path / "nets", design, 7)
    assert path.parent == tmp_path / "nets" and path.name.endswith("_000007.cir")
    assert not path.name.startswith(".") and "/" not in path.name and "\\" not in path.name
