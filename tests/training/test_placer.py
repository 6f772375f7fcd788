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
from training.placer.config import PlacerConfig
from training.placer.examples import two_stage_ota
from training.placer.legality import check_legal
from training.placer.problem import PlacementProblem
from training.placer.space import generate_space, space_ids, subsets_of


@pytest.fixture(scope="module")
def circuit() -> Circuit:
    return two_stage_ota()


@pytest.fixture(scope="module")
def space(circuit: Circuit) -> tuple[PlacementBatch, np.ndarray]:
    """The full 2^5 = 32 placement space of the small OTA."""
    return generate_space(circuit, count=None, seed=0, config=PlacerConfig(batch_size=16, threads=1))


def _net_hpwl(batch: PlacementBatch, net: str) -> np.ndarray:
    """(B,) HPWL of a net over its pin centres (bulk pins excluded, as in the placer)."""
    centre = (batch.pin_boxes[..., :2] + batch.pin_boxes[..., 2:]) / 2  # (B, P, 2)
    sel = (batch.pin_net == batch.nets.index(net)) & np.array([t != "B" for t in batch.pin_terminal])
    pins = centre[:, sel]
    return (pins.max(1) - pins.min(1)).sum(1)  # type: ignore[no-any-return]


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
    assert len(distinct) >= 0.9 * len(batch)


def test_raising_a_net_weight_shortens_that_net(space: tuple[PlacementBatch, np.ndarray], circuit: Circuit) -> None:
    """The lever the paper's flow relies on: on average a raised critical net is shorter."""
    batch, _ = space
    subsets = subsets_of(np.arange(len(batch)), len(circuit.critical_nets))
    ratios = []
    for j, net in enumerate(circuit.critical_nets):
        hp = _net_hpwl(batch, net)
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
