"""The design-space generator: legal placements, diverse, and steered by the net weights (paper Sec. III-A)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from placeq.batch import PlacementBatch
from placeq.domain import Circuit
from placeq.errors import InputError
from placeq.space import space_ids, subsets_of
from training.placer.config import PlacerConfig
from training.placer.examples import two_stage_ota
from training.placer.hpwl import net_hpwl, symmetry_axis
from training.placer.io_pins import io_pins, legal_positions
from training.placer.legality import check_legal
from training.placer.problem import PlacementProblem
from training.placer.space import generate_space


@pytest.fixture(scope="module")
def circuit() -> Circuit:
    return two_stage_ota()


@pytest.fixture(scope="module")
def space(circuit: Circuit) -> tuple[PlacementBatch, np.ndarray]:
    """The full 2^5 = 32 placement space of the small OTA."""
    return generate_space(circuit, count=None, seed=0, config=PlacerConfig(batch_size=16, threads=1))


def test_every_placement_is_legal(space: tuple[PlacementBatch, np.ndarray], circuit: Circuit) -> None:
    batch, _ = space
    report = check_legal(batch, circuit)
    assert report.ok, report.problems()
    assert (report.symmetry_error == 0).all()
    batch.placement(len(batch) - 1).check_against(circuit)  # validates as a domain Placement


def test_space_covers_all_subsets_with_their_weights(space: tuple[PlacementBatch, np.ndarray],
                                                     circuit: Circuit) -> None:
    batch, weights = space
    assert len(batch) == 32 and weights.shape == (32, len(batch.nets))
    tail = batch.nets.index("TAIL")
    raised = subsets_of(np.arange(32), 5)[:, circuit.critical_nets.index("TAIL")]
    assert (weights[raised, tail] == 10.0).all() and (weights[~raised, tail] == 1.0).all()
    assert weights[:, batch.nets.index("VDD")].max() == pytest.approx(0.2)  # supply nets at IdeaPlaceEx's 0.2


def test_different_weightings_give_different_placements(space: tuple[PlacementBatch, np.ndarray]) -> None:
    batch, _ = space
    distinct = {batch.boxes[i].tobytes() for i in range(len(batch))}
    assert len(distinct) == len(batch)


def test_raising_a_net_weight_shortens_that_net(space: tuple[PlacementBatch, np.ndarray], circuit: Circuit) -> None:
    """The lever the paper's flow relies on: on average a raised critical net is shorter."""
    batch, _ = space
    subsets = subsets_of(np.arange(len(batch)), len(circuit.critical_nets))
    hpwl = net_hpwl(batch, circuit)  # (B, M), IO pins counted as in the placer
    ratios = []
    for j, net in enumerate(circuit.critical_nets):
        hp = hpwl[:, batch.nets.index(net)]
        ratios.append(hp[subsets[:, j]].mean() / hp[~subsets[:, j]].mean())
    assert np.mean(ratios) < 0.85
    assert sum(r < 1.0 for r in ratios) >= len(ratios) - 1


def test_rows_do_not_depend_on_batching_and_seed_is_deterministic(circuit: Circuit) -> None:
    cfg = PlacerConfig(iterations=40, threads=1)
    a, wa = generate_space(circuit, count=6, seed=3, config=cfg, batch_size=6)
    b, wb = generate_space(circuit, count=6, seed=3, config=cfg, batch_size=4)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-9)
    np.testing.assert_array_equal(wa, wb)
    c, _ = generate_space(circuit, count=6, seed=4, config=cfg, batch_size=6)
    assert not np.array_equal(a.boxes, c.boxes)


def test_worker_processes_give_the_same_placements(circuit: Circuit) -> None:
    cfg = PlacerConfig(iterations=20)
    one, w1 = generate_space(circuit, count=6, seed=5, config=cfg, batch_size=3)
    seen: list[int] = []
    two, w2 = generate_space(circuit, count=6, seed=5, config=replace(cfg, workers=2), batch_size=3,
                             progress=lambda done, _: seen.append(done))
    np.testing.assert_array_equal(one.boxes, two.boxes)
    np.testing.assert_array_equal(w1, w2)
    assert seen == [3, 6]


def test_progress_reports_every_chunk(circuit: Circuit) -> None:
    seen: list[tuple[int, int]] = []
    generate_space(circuit, count=5, seed=0, config=PlacerConfig(iterations=10, threads=1), batch_size=2,
                   progress=lambda done, total: seen.append((done, total)))
    assert seen == [(2, 5), (4, 5), (5, 5)]


def test_space_ids_sample_is_seeded_and_unique() -> None:
    a = space_ids(14, 100, seed=7)
    assert len(set(a.tolist())) == 100 and a.max() < 2**14
    np.testing.assert_array_equal(a, space_ids(14, 100, seed=7))
    assert not np.array_equal(a, space_ids(14, 100, seed=8))
    np.testing.assert_array_equal(space_ids(3, 1000, seed=0), np.arange(8))
    with pytest.raises(InputError, match="count"):
        space_ids(3, 0, seed=0)


def test_legality_check_catches_violations(space: tuple[PlacementBatch, np.ndarray], circuit: Circuit) -> None:
    batch, _ = space
    one = batch.take([0])
    boxes = one.boxes.copy()
    names = one.device_names
    boxes[0, names.index("M1"), 1] += 0.05  # break the M1/M2 mirror in y by one grid step
    boxes[0, names.index("M10"), :2] = boxes[0, names.index("M11"), :2]  # stack the two free devices
    bad = PlacementBatch(**{**one.__dict__, "boxes": boxes})
    report = check_legal(bad, circuit)
    assert report.symmetry_error[0] == 1 and report.overlaps[0] >= 1 and not report.ok
    assert report.pins_outside[0] > 0  # pins did not move with their devices
    assert "placement 0" in report.problems()[0]


def test_config_loads_from_json_and_names_bad_keys(tmp_path: Path) -> None:
    path = tmp_path / "placer.json"
    path.write_text(json.dumps({"iterations": 50, "critical_weight": 5}))
    cfg = PlacerConfig.from_json(path)
    assert cfg.iterations == 50 and cfg.critical_weight == 5.0
    path.write_text(json.dumps({"iteratons": 50}))
    with pytest.raises(InputError, match="iteratons"):
        PlacerConfig.from_json(path)
    with pytest.raises(InputError, match="spacing_um"):
        PlacerConfig(spacing_um=0.07)
    assert all(desc for _, desc in PlacerConfig.describe().values())


def test_unmirrorable_pair_is_rejected(circuit: Circuit) -> None:
    devices = list(circuit.devices)
    devices[1] = devices[1].model_copy(update={"w": 16.0})  # M2 no longer matches M1
    bad = circuit.model_copy(update={"devices": tuple(devices)})
    with pytest.raises(InputError, match=r"symmetry_pairs\[0\]"):
        PlacementProblem.from_circuit(bad, PlacerConfig())


def test_raising_a_net_to_a_port_moves_its_device_toward_the_io_pin(circuit: Circuit) -> None:
    """INP reaches one device pin (M1's gate) and a port: only the IO pin on the boundary gives it a length.

    Without IO pins the four weightings of (INP, INM) collapse to one placement (the old OTA1 duplicates).
    """
    inputs = circuit.model_copy(update={"critical_nets": ("INP", "INM")})
    batch, _ = generate_space(inputs, count=None, seed=0, config=PlacerConfig(threads=1))
    assert check_legal(batch, inputs).ok
    assert len({b.tobytes() for b in batch.boxes}) == 4
    hp = net_hpwl(batch, inputs)[:, batch.nets.index("INP")]  # ids 0..3: bit 0 raises INP
    assert hp[1] < 0.9 * hp[0]  # INP alone raised vs nothing raised
    assert hp[[1, 3]].mean() < hp[[0, 2]].mean()
    off, _ = generate_space(inputs, count=None, seed=0, config=PlacerConfig(threads=1, io_pins=False))
    assert len({b.tobytes() for b in off.boxes}) == 1


def test_io_pins_sit_on_the_boundary_mirrored_about_the_axis(space: tuple[PlacementBatch, np.ndarray],
                                                            circuit: Circuit) -> None:
    batch, _ = space
    pins = io_pins(circuit)
    assert set(pins.names) == set(circuit.ports)
    axis = symmetry_axis(batch, circuit)
    at = {n: legal_positions(pins, batch.boxes, axis)[:, i] for i, n in enumerate(pins.names)}  # name -> (B, 2)
    for pos, neg in (("INP", "INM"), ("OUTP", "OUTM")):
        np.testing.assert_allclose(at[pos][:, 0] + at[neg][:, 0], 2 * axis, atol=1e-9)  # mirror images
        np.testing.assert_array_equal(at[pos][:, 1], at[neg][:, 1])
        assert (at[pos][:, 0] <= batch.boxes[..., 0].min(1) + 1e-9).all()  # on or left of every device
    top = (batch.boxes[..., 1] + batch.boxes[..., 3]).max(1)
    np.testing.assert_allclose(at["VDD"][:, 1], top)
    np.testing.assert_allclose(at["VSS"][:, 1], 0.0)
    np.testing.assert_allclose(at["VDD"][:, 0], axis)


def test_net_hpwl_matches_loop_reference(space: tuple[PlacementBatch, np.ndarray], circuit: Circuit) -> None:
    batch, _ = space
    got = net_hpwl(batch, circuit)
    pins = io_pins(circuit)
    io_xy = legal_positions(pins, batch.boxes, symmetry_axis(batch, circuit))
    for b in (0, 17, 31):
        for m, net in enumerate(batch.nets):
            pts = [((x0 + x1) / 2, (y0 + y1) / 2) for (x0, y0, x1, y1), n, t in
                   zip(batch.pin_boxes[b], batch.pin_net, batch.pin_terminal, strict=True) if n == m and t != "B"]
            pts += [tuple(io_xy[b, i]) for i, n in enumerate(pins.names) if n == net]
            want = 0.0 if len(pts) < 2 else float(np.ptp([p[0] for p in pts]) + np.ptp([p[1] for p in pts]))
            assert got[b, m] == pytest.approx(want, abs=1e-9)


def test_coordinates_are_grid_decimals_without_float_noise(space: tuple[PlacementBatch, np.ndarray],
                                                           tmp_path: Path) -> None:
    """68 * 0.05 is 3.4000000000000004 in floating point; the placer writes 3.4."""
    from training.dataset import write_batch

    batch, _ = space
    for values in (batch.boxes, batch.pin_boxes):
        np.testing.assert_array_equal(values, np.round(values, 6))
    np.testing.assert_array_equal(np.round(batch.boxes / 0.05), np.round(batch.boxes / 0.05, 6))
    text = write_batch(tmp_path / "s.jsonl", batch.take([0, 1])).read_text()
    assert "00000000" not in text and "99999999" not in text


def test_io_pins_without_a_testbench_come_from_port_names(circuit: Circuit) -> None:
    bare = circuit.model_copy(update={"testbench": None})
    pins = io_pins(bare)
    spot = {n: tuple(pins.frame[i]) for i, n in enumerate(pins.names)}
    assert spot["VDD"] == (0.0, 1.0) and spot["VSS"] == (0.0, 0.0)  # supplies by name: top / bottom centre
    assert spot["INP"] == (-0.5, 0.5) and spot["INM"] == (0.5, 0.5)  # <stem>P / <stem>M: left / right edge
    assert spot["OUTP"] == (-0.5, 0.5) and spot["OUTM"] == (0.5, 0.5)
    assert spot["VBN"] == (0.0, 0.0)  # anything else: bottom centre
    problem = PlacementProblem.from_circuit(bare, PlacerConfig(io_pins=False))
    assert len(problem.io) == 0 and problem.net_weight[problem.nets.index("INP")] == 0.0  # one pin: no length
