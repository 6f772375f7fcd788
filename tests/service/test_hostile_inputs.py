"""Issue 16's API findings, each as a hostile or careless caller would meet it: every answer a 4xx naming the field
(never a 500), keys checked before bodies, names that cannot be URLs refused, overload shed at once."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from live_api import live_api

from placeq.circuits import load_design
from placeq.domain import Placement
from service.api.app import create_app
from service.settings import Settings

FEATURES = [1, 18, 64, 64]


def _infer(client: TestClient, data: list[Any]) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"inputs": [{"name": "features", "shape": FEATURES, "datatype": "FP32", "data": data}]})
    r = client.post("/v2/models/base/infer", content=body, headers={"content-type": "application/json"})
    return r.status_code, r.json()


def test_oip_integer_beyond_any_float_is_400_not_500(client: TestClient) -> None:
    n = 18 * 64 * 64
    for huge in (10**400, -(10**400), 10**300):  # beyond FP32 (2**70 fits, and is scored)
        status, body = _infer(client, [huge] + [0.0] * (n - 1))
        assert status == 400, body
        assert set(body) == {"error"} and body["error"].startswith("inputs[0].data: ")


def test_oip_fp32_refuses_numbers_given_as_strings_or_bools(client: TestClient) -> None:
    n = 18 * 64 * 64
    for odd in ("1.0", True, None):
        status, body = _infer(client, [odd] + [0.0] * (n - 1))
        assert status == 400, body
        assert "inputs[0].data" in body["error"] and "JSON numbers" in body["error"]
    status, _ = _infer(client, [[0.5] * n])  # nested data stays accepted
    assert status == 200


BAD_DESIGN_NAMES = ["a/b", "../x", "/x", "..", ".hidden", "a\\b", "a..b", "-x", "a b", "a%2Fb", "a?b"]


@pytest.mark.parametrize("name", BAD_DESIGN_NAMES)
def test_design_names_that_are_not_url_segments_or_file_names_are_422(client: TestClient, name: str) -> None:
    circuit = json.loads(load_design("ota1").model_dump_json()) | {"name": name}
    r = client.post("/designs", json={"circuit": circuit})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "circuit", "name"]
    names = [d["name"] for d in client.get("/designs").json()]
    assert name not in names


def test_design_names_in_use_stay_valid(client: TestClient) -> None:
    circuit = json.loads(load_design("ota1").model_dump_json())
    for name in ("my_ota", "ota1.v2", "TB_OTA_4", "Telescopic_Three_stage-1"):
        r = client.post("/designs", json={"circuit": circuit | {"name": name}})
        assert r.status_code == 201, r.text
        assert client.get(f"/designs/{name}").json()["name"] == name


@pytest.mark.parametrize("field,value", [("model", "nch\n.control"), ("model", "nch\x00"), ("model", "a\rb")])
def test_device_model_refuses_newlines_and_control_characters(client: TestClient, field: str, value: str) -> None:
    circuit = json.loads(load_design("ota1").model_dump_json())
    circuit["devices"][0][field] = value
    r = client.post("/designs", json={"circuit": circuit | {"name": "ctl"}})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "circuit", "devices", 0, field]


def test_circuit_description_is_one_line(client: TestClient) -> None:
    circuit = json.loads(load_design("ota1").model_dump_json()) | {"name": "ctl", "description": "x\n.control"}
    r = client.post("/designs", json={"circuit": circuit})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "circuit", "description"]


# --- the key before the body -----------------------------------------------------------------------------------


@pytest.fixture
def secured(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"auth": True}))) as c:
        yield c


@pytest.mark.parametrize("path", ["/predict", "/designs", "/label", "/v2/models/base/infer"])
@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b""])
def test_without_a_key_any_body_gets_401(secured: TestClient, path: str, body: bytes) -> None:
    r = secured.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 401, r.text
    assert "WWW-Authenticate" in r.headers
    bad = secured.post(path, content=body, headers={"content-type": "application/json", "X-API-Key": "nope"})
    assert bad.status_code == 401, bad.text


# --- overload and slow clients on a real server -----------------------------------------------------------------


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[tuple[str, int]]:
    """`placeq serve` with two in-flight slots and a 2 s body timeout."""
    with live_api(tmp_path_factory.mktemp("tight"), base_model=model_dir, max_inflight="2",
                  body_timeout_s="2") as base:
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port)


def _answer(sock: socket.socket) -> tuple[int, str]:
    data = b""
    while part := sock.recv(65536):
        data += part
    head = data.partition(b"\r\n\r\n")[0].decode()
    return int(head.split()[1]), head.lower()


def _post_head(path: str, length: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n"
            "Connection: close\r\n\r\n").encode()


def test_requests_not_yet_running_count_toward_the_inflight_bound(tight: tuple[str, int], example: Placement) -> None:
    """Two requests whose bodies are still arriving hold both slots: a third is shed at once with Retry-After
    (before issue 16's fix the bound was counted inside the route, so the third was queued and served)."""
    body = json.dumps({"placement": json.loads(example.model_dump_json())}).encode()
    holders = [socket.create_connection(tight, timeout=30) for _ in range(2)]
    try:
        for s in holders:
            s.sendall(_post_head("/predict", len(body)) + body[:10])
        time.sleep(0.5)
        with socket.create_connection(tight, timeout=30) as third:
            start = time.monotonic()
            third.sendall(_post_head("/predict", len(body)) + body)
            status, head = _answer(third)
        assert status == 503 and "retry-after:" in head
        assert time.monotonic() - start < 1.5  # shed at once, not after the holders' timeout
        for s in holders:  # the holders' bodies never complete: 408 after PLACEQ_BODY_TIMEOUT_S
            status, head = _answer(s)
            assert status == 408 and "connection: close" in head
    finally:
        for s in holders:
            s.close()
    with socket.create_connection(tight, timeout=30) as again:  # the slots came back
        again.sendall(_post_head("/predict", len(body)) + body)
        assert _answer(again)[0] == 200
