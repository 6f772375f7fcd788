"""/predict in columns (issue 15): the same scores as the documented form, and a 422 naming the field for bad input."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_helpers import placements_json

from placeq.batch import PlacementBatch
from placeq.columns import columns_of
from placeq.domain import Placement

Columns = dict[str, Any]


def _columns(items: list[dict[str, object]]) -> Columns:
    return columns_of(PlacementBatch.from_placements([Placement.model_validate(p) for p in items]))


def _probabilities(client: TestClient, body: dict[str, object]) -> np.ndarray:
    r = client.post("/predict", json=body)
    assert r.status_code == 200, r.text
    return np.array([s["probability"] for s in r.json()["results"]])


def test_columns_score_as_the_documented_form(client: TestClient, example: Placement) -> None:
    items = placements_json(example, 9, seed=4)
    documented = _probabilities(client, {"placements": items})
    columnar = _probabilities(client, {"columns": _columns(items)})
    np.testing.assert_allclose(columnar, documented, atol=1e-6)
    single = _probabilities(client, {"placement": items[0]})
    np.testing.assert_allclose(_probabilities(client, {"columns": _columns(items[:1])}), single, atol=1e-6)


def test_columns_without_tags_take_the_designs(client: TestClient, example: Placement) -> None:
    items = placements_json(example, 3, seed=5)
    columns = _columns(items)
    del columns["tags"]
    np.testing.assert_allclose(
        _probabilities(client, {"columns": columns}), _probabilities(client, {"placements": items}), atol=1e-6
    )
    columns["design"] = "not_a_design"
    r = client.post("/predict", json={"columns": columns})
    assert r.status_code == 422 and "columns.tags: devices without a subcircuit tag" in r.text


def _set(path: str, value: object) -> Callable[[Columns], None]:
    def edit(c: Columns) -> None:
        *parents, last = path.split(".")
        target: Any = c
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        target[int(last) if last.isdigit() else last] = value

    return edit


def _pin_outside(c: Columns) -> None:
    c["pin_boxes"][1][0] += 50.0
    c["pin_boxes"][1][2] += 50.0


BAD: list[tuple[str, Callable[[Columns], None], str]] = [
    ("short row", lambda c: c["boxes"][1].pop(), "columns.boxes[1]: expected"),
    ("negative width", _set("boxes.0.2", -1.0), "columns.boxes[0][0]: w, h must be"),
    ("beyond the limit", _set("boxes.2.4", 2e5), "columns.boxes[2][4]: x, y must lie within"),
    ("not finite", _set("boxes.0.1", float("inf")), "columns.boxes[0]: numbers must be finite"),
    ("pin of no device", lambda c: c["pins"]["device"].__setitem__(3, len(c["devices"])), "columns.pins.device[3]"),
    ("pin far outside", _pin_outside, "columns.pin_boxes[1][0]: a pin lies outside its device"),
    ("inverted pin box", _set("pin_boxes.0.2", -1e4), "columns.pin_boxes[0][0]: x1 >= x0"),
    ("kinds short", lambda c: c["kinds"].pop(), "columns.kinds: expected one entry per device"),
    ("duplicate device", lambda c: c["devices"].__setitem__(1, c["devices"][0]), "columns.devices: duplicate"),
    ("pin rows", lambda c: c["pin_boxes"].pop(), "columns.pin_boxes: expected one row per placement"),
    ("missing pin boxes", lambda c: c.pop("pin_boxes"), "columns.pin_boxes: expected one row"),
    ("terminals short", lambda c: c["pins"]["terminal"].pop(), "columns.pins.terminal: expected one entry per pin"),
    ("duplicate pin", lambda c: c["pins"]["terminal"].__setitem__(1, c["pins"]["terminal"][0]),
     "columns.pins.terminal[1]: duplicate pin"),
    ("repeated tag", lambda c: c["tags"][0].append(c["tags"][0][0]), "columns.tags[0]: repeated subcircuit tag"),
]


@pytest.mark.parametrize(("edit", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_columns_get_422_naming_the_field(
    client: TestClient, example: Placement, edit: Callable[[Columns], None], message: str
) -> None:
    columns = copy.deepcopy(_columns(placements_json(example, 3, seed=6)))
    edit(columns)
    r = client.post("/predict", content=json.dumps({"columns": columns}), headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert any(e["msg"].startswith(message) for e in r.json()["detail"]), r.text


def test_columns_are_typed_by_the_schema_and_held_to_the_batch_limit(client: TestClient, example: Placement) -> None:
    columns = _columns(placements_json(example, 2))
    columns["boxes"][0][0] = "1.0"
    r = client.post("/predict", json={"columns": columns})
    assert r.status_code == 422 and any(e["loc"] == ["body", "columns", "boxes", 0, 0] for e in r.json()["detail"])
    r = client.post("/predict", json={"columns": _columns(placements_json(example, 1)), "placements": []})
    assert r.status_code == 422
    limit = client.app.state.runtime.settings.max_batch  # type: ignore[attr-defined]
    many = _columns(placements_json(example, 1))
    many["boxes"] *= limit + 1
    many["pin_boxes"] *= limit + 1
    r = client.post("/predict", json={"columns": many})
    assert r.status_code == 422 and "columns.boxes" in r.text
