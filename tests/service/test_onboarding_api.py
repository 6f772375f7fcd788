"""What the API says about a design or placement it cannot use (issue 12): untagged devices, no testbench."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from placeq.circuits import load_design
from placeq.domain import Circuit, Placement
from simulate.nominal import row_placement


def _untagged(example: Placement, keep: set[str] = frozenset()) -> dict[str, object]:  # type: ignore[assignment]
    data = json.loads(example.model_dump_json())
    for d in data["devices"]:
        if d["name"] not in keep:
            d["tags"] = []
    return data  # type: ignore[no-any-return]


def test_predict_tags_devices_from_the_design_it_knows(client: TestClient, example: Placement) -> None:
    tagged = client.post("/predict", json={"placements": [json.loads(example.model_dump_json())]})
    bare = client.post("/predict", json={"placements": [_untagged(example)]})
    assert tagged.status_code == bare.status_code == 200, bare.text
    assert bare.json()["results"] == tagged.json()["results"]  # same score: the tags came from ota1


def test_predict_refuses_untagged_devices_of_an_unknown_design(client: TestClient, example: Placement) -> None:
    data = _untagged(example, keep={"M1"}) | {"design": "their_ota"}
    r = client.post("/predict", json={"placements": [data]})
    assert r.status_code == 422, r.text
    msg = json.dumps(r.json()["detail"])
    assert "devices without a subcircuit tag: M2, M3" in msg and "M1," not in msg


def test_label_without_a_testbench_is_422_at_once(client: TestClient) -> None:
    circuit = json.loads(load_design("ota3").model_dump_json()) | {"name": "ota3_bare", "testbench": None}
    # infer=False: stored as given, so no testbench is drafted from the ports
    assert client.post("/designs", json={"circuit": circuit, "infer": False}).status_code in (200, 201)
    placement = row_placement(Circuit.model_validate(circuit)).placement(0)
    r = client.post("/label", json={"design": "ota3_bare", "placements": [json.loads(placement.model_dump_json())]})
    assert r.status_code == 422, r.text
    assert "has no testbench" in json.dumps(r.json()["detail"])
