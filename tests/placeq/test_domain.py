"""Validation of the domain model: every error class is rejected with a message that names the field."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from placeq.batch import PlacementBatch
from placeq.circuits import BUILTIN_DESIGNS, load_design
from placeq.domain import DESIGN_NAME_PATTERN, MAX_DEVICES, Circuit, Placement
from placeq.errors import InputError, PlacementMismatch


def _circuit(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "diffpair",
        "devices": [
            {"name": "M1", "kind": "NMOS", "tags": ["first_stage"], "w": 4, "l": 0.2,
             "terminals": {"D": "outm", "G": "inp", "S": "tail", "B": "VSS"}},
            {"name": "M2", "kind": "NMOS", "tags": ["first_stage"], "w": 4, "l": 0.2,
             "terminals": {"D": "outp", "G": "inm", "S": "tail", "B": "VSS"}},
            {"name": "C1", "kind": "CAP", "tags": ["feedback"], "value": 1e-12,
             "terminals": {"PLUS": "outm", "MINUS": "outp"}},
        ],
        "symmetry_pairs": [["M1", "M2"]],
        "self_symmetric": ["C1"],
        "critical_nets": ["tail", "outm"],
    }
    base.update(over)
    return base


def _placement(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "design": "diffpair",
        "devices": [
            {"name": "M1", "kind": "NMOS", "tags": ["first_stage"], "x": 0, "y": 0, "w": 4, "h": 2},
            {"name": "M2", "kind": "NMOS", "tags": ["first_stage"], "x": 6, "y": 0, "w": 4, "h": 2},
            {"name": "C1", "kind": "CAP", "tags": ["feedback"], "x": 2, "y": 4, "w": 6, "h": 3},
        ],
        "pins": [
            {"device": "M1", "terminal": "D", "net": "outm", "box": {"x0": 0.5, "y0": 1.5, "x1": 1, "y1": 2}},
            {"device": "M2", "terminal": "D", "net": "outp", "box": {"x0": 6.5, "y0": 1.5, "x1": 7, "y1": 2}},
            {"device": "M1", "terminal": "S", "net": "tail", "box": {"x0": 3, "y0": 0, "x1": 3.5, "y1": 0.5}},
            {"device": "M2", "terminal": "S", "net": "tail", "box": {"x0": 6, "y0": 0, "x1": 6.5, "y1": 0.5}},
            {"device": "C1", "terminal": "PLUS", "net": "outm", "box": {"x0": 2, "y0": 4, "x1": 3, "y1": 5}},
            {"device": "C1", "terminal": "MINUS", "net": "outp", "box": {"x0": 7, "y0": 4, "x1": 8, "y1": 5}},
        ],
    }
    base.update(over)
    return base


def _message(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    """Field path and message as an API client sees them."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.value.errors())


def test_valid_circuit_and_placement_round_trip_through_json() -> None:
    c = Circuit.model_validate(_circuit())
    assert Circuit.model_validate_json(c.model_dump_json()) == c
    assert c.nets() == ["outm", "inp", "tail", "VSS", "outp", "inm"]
    p = Placement.model_validate(_placement())
    assert Placement.model_validate_json(p.model_dump_json()) == p
    p.check_against(c)
    box = p.bounding_box()
    assert (box.x0, box.y0, box.x1, box.y1) == (0, 0, 10, 7)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"devices": []}, "devices"),
        ({"name": ""}, "name"),
        ({"name": "bad name with spaces"}, "name"),
        ({"symmetry_pairs": [["M1", "M9"]]}, "symmetry_pairs[0][1]: unknown device 'M9'"),
        ({"symmetry_pairs": [["M1", "C1"]]}, "symmetry_pairs[0]"),
        ({"symmetry_pairs": [["M1", "M2"]], "self_symmetric": ["M1"]}, "symmetry_pairs: devices in more than one"),
        ({"self_symmetric": ["X"]}, "self_symmetric[0]: unknown device 'X'"),
        ({"critical_nets": ["nowhere"]}, "critical_nets[0]: unknown net 'nowhere'"),
        ({"critical_nets": ["tail", "tail"]}, "critical_nets: duplicates"),
    ],
)
def test_circuit_errors_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Circuit.model_validate(_circuit(**change))
    assert field in _message(exc)


def test_circuit_duplicate_device_names() -> None:
    data = _circuit()
    data["devices"][1]["name"] = "M1"
    with pytest.raises(ValidationError) as exc:
        Circuit.model_validate(data)
    assert "devices: duplicate device names ['M1']" in _message(exc)


@pytest.mark.parametrize(
    ("device_change", "field"),
    [
        ({"w": -1.0}, "devices.0.w"),
        ({"w": float("nan")}, "devices.0.w"),
        ({"l": float("inf")}, "devices.0.l"),
        ({"kind": "BJT"}, "devices.0.kind"),
        ({"tags": ["first_stage", "first_stage"]}, "devices.0.tags"),
        ({"tags": ["output"]}, "devices.0.tags"),
        ({"terminals": {"D": "a", "G": "b", "X": "c"}}, "terminals: ['X'] not valid for NMOS"),
        ({"w": None}, "w, l: a MOSFET needs both"),
        ({"nf": 0}, "devices.0.nf"),
    ],
)
def test_device_errors_name_the_field(device_change: dict[str, Any], field: str) -> None:
    data = _circuit()
    data["devices"][0].update(device_change)
    with pytest.raises(ValidationError) as exc:
        Circuit.model_validate(data)
    assert field in _message(exc)


def test_testbench_unknown_net_is_named() -> None:
    tb = {"metric": "offset", "inputs": ["inp", "inX"], "outputs": ["outp", "outm"],
          "supplies": {"VSS": 0.0}, "common_mode": 0.6}
    with pytest.raises(ValidationError) as exc:
        Circuit.model_validate(_circuit(testbench=tb))
    assert "testbench.inputs: unknown net 'inX'" in _message(exc)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["devices"][0].update(w=float("nan")), "devices.0.w"),
        (lambda d: d["devices"][0].update(h=-2), "devices.0.h"),
        (lambda d: d["devices"][0].update(h=0), "devices.0.h"),
        (lambda d: d["devices"][0].update(x=1e9), "devices.0.x"),
        (lambda d: d["devices"][1].update(name="M1"), "devices: duplicate device names"),
        (lambda d: d["pins"][0].update(device="M7"), "pins[0].device: unknown device 'M7'"),
        (lambda d: d["pins"][1].update(device="M1", terminal="D"), "pins[1].terminal: duplicate pin M1.D"),
        (lambda d: d["pins"][2]["box"].update(x0=50, x1=51), "pins[2].box: pin M1.S lies outside its device"),
        (lambda d: d["pins"][2]["box"].update(x1=-1), "pins.2.box"),
        (lambda d: d.update(devices=[]), "devices"),
        (lambda d: d.update(devices=d["devices"] * (MAX_DEVICES // 3 + 1)), "devices"),
    ],
)
def test_placement_errors_name_the_field(mutate: Any, field: str) -> None:
    data = _placement()
    mutate(data)
    with pytest.raises(ValidationError) as exc:
        Placement.model_validate(data)
    assert field in _message(exc)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(design="other"), "design"),
        (lambda d: d["devices"].append({**d["devices"][2], "name": "C9"}), "devices[3].name"),
        (lambda d: d["devices"][2].update(kind="RES"), "devices[2].kind"),
        (lambda d: d["devices"][0].update(tags=["bias"]), "devices[0].tags"),
        (lambda d: d["pins"][0].update(net="outp"), "pins[0].net"),
        (lambda d: d["pins"][0].update(terminal="G", net="inp"), None),
        (lambda d: d.update(devices=d["devices"][:2], pins=d["pins"][:4]), "devices"),
        (lambda d: d["pins"][4].update(terminal="B"), "pins[4].terminal"),
    ],
)
def test_placement_against_circuit(mutate: Any, field: str | None) -> None:
    circuit = Circuit.model_validate(_circuit())
    data = _placement()
    mutate(data)
    p = Placement.model_validate(data)
    if field is None:
        p.check_against(circuit)
        return
    with pytest.raises(PlacementMismatch) as exc:
        p.check_against(circuit)
    assert exc.value.field == field
    assert str(exc.value).startswith(field)


def test_batch_round_trip_and_structure_check() -> None:
    p = Placement.model_validate(_placement())
    moved = _placement()
    moved["devices"][2].update(x=3)
    for pin in moved["pins"][4:]:
        pin["box"]["x0"] += 1
        pin["box"]["x1"] += 1
    q = Placement.model_validate(moved)
    batch = PlacementBatch.from_placements([p, q])
    assert len(batch) == 2
    assert batch.boxes.shape == (2, 3, 4)
    assert batch.pin_boxes.shape == (2, 6, 4)
    assert batch.nets == ("outm", "outp", "tail")
    np.testing.assert_array_equal(batch.pin_net, [0, 1, 2, 2, 0, 1])
    np.testing.assert_allclose(batch.intensity, [0.25, 0.25, 0.75])
    assert batch.tag_mask.tolist() == [[True, False, False, False, False]] * 2 + [[False, False, True, False, False]]
    assert batch.placements() == [p, q]
    assert batch.take([1]).placement(0) == q
    other = _placement()
    other["pins"] = other["pins"][:-1]
    with pytest.raises(InputError) as exc:
        PlacementBatch.from_placements([p, Placement.model_validate(other)])
    assert exc.value.field == "placements[1]"


@pytest.mark.parametrize("name", ["a/b", "../x", "/etc/x", "..", ".x", "a\\b", "a..b", "-x", "a b", "x\n"])
def test_design_names_must_be_url_segments_and_file_names(name: str) -> None:
    circuit = load_design("ota1")
    with pytest.raises(ValidationError, match="name"):
        Circuit.model_validate(circuit.model_dump() | {"name": name})


def test_builtin_design_names_are_valid_design_names() -> None:
    for name in (*BUILTIN_DESIGNS, "base"):
        assert re.match(DESIGN_NAME_PATTERN, name), name
