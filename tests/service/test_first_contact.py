"""What a new user meets first, as the issue that found them tried it: the example placement and /predict,
and a netlist whose device kinds the API cannot tell."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_the_example_placement_is_the_body_of_draw_and_wrapped_that_of_predict(client: TestClient) -> None:
    example = client.get("/examples/placement").json()
    assert example["design"] == "ota1"
    r = client.post("/draw", json=example)
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"
    r = client.post("/predict", json={"placement": example})  # as docs/service.md says to wrap it
    assert r.status_code == 200, r.text
    assert 0.0 <= r.json()["results"][0]["probability"] <= 1.0
    r = client.post("/predict", json=example)  # the mistake the docs now warn about: answered naming the fields
    assert r.status_code == 422 and {e["loc"][-1] for e in r.json()["detail"]} >= {"design", "devices", "pins"}
    openapi = client.get("/openapi.json").json()
    assert '{"placement": ...}' in openapi["paths"]["/examples/placement"]["get"]["description"]


def test_an_unknown_device_kind_sends_the_caller_to_the_types_field(client: TestClient) -> None:
    netlist = "* amp\n.subckt amp a b\nM1 a b a a mystery_dev w=1u l=1u\n.ends amp\n"
    r = client.post("/designs", json={"netlist": netlist})
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "netlist:3"]
    assert 'give it in the `types` field, e.g. {"M1": "NMOS"}' in error["msg"] and "file" not in error["msg"]
    r = client.post("/designs", json={"netlist": netlist, "types": {"M1": "NMOS"}})
    assert r.status_code == 201, r.text
