"""Limits and bad input: the body limit on a real uvicorn (raw sockets, declared and chunked bodies), 405 with
``Allow``, the bounded job queue, predict overload, batch / netlist / device / pin / version limits, numbers that
are not numbers, and malformed netlists through POST /designs: each a 4xx that names the field and the limit."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from live_api import live_api
from service_helpers import placements_json

from model_store import JobState
from placeq.domain import MAX_DEVICES, MAX_PINS, Placement
from service.api.app import create_app
from service.settings import Settings

LIMIT = 64 * 1024  # PLACEQ_MAX_BODY_BYTES of the live server
MALFORMED = json.loads((Path(__file__).parents[1] / "data" / "malformed_netlists.json").read_text())["cases"]


# --- the body limit, on a real server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[tuple[str, int]]:
    with live_api(tmp_path_factory.mktemp("live"), base_model=model_dir, max_body_bytes=str(LIMIT)) as base:
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port)


def _exchange(addr: tuple[str, int], head: str, chunks: Sequence[bytes] = ()) -> tuple[int, dict[str, str], Any]:
    """Send `head` (request line and headers) and `chunks` raw, then read the whole answer (the server closes)."""
    with socket.create_connection(addr, timeout=60) as sock:
        sock.sendall(head.encode() + b"\r\n")
        for chunk in chunks:
            sock.sendall(chunk)
        data = b""
        while part := sock.recv(65536):
            data += part
    header, _, body = data.partition(b"\r\n\r\n")
    lines = header.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return int(lines[0].split()[1]), headers, json.loads(body)


def _dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size, _, body = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out, body = out + body[:n], body[n + 2 :]
    return out


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _head(path: str, *headers: str) -> str:
    return "\r\n".join([f"POST {path} HTTP/1.1", "Host: test", "Content-Type: application/json", *headers, ""])


def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(live: tuple[str, int]) -> None:
    """Only the headers go out: the 413 arrives although the body never does, so nothing read it."""
    status, headers, body = _exchange(live, _head("/predict", f"Content-Length: {100 * LIMIT}", "Connection: close"))
    assert status == 413 and headers["connection"] == "close"
    assert body == {"detail": f"request body too large: Content-Length {100 * LIMIT} exceeds the limit of {LIMIT} "
                              "bytes (PLACEQ_MAX_BODY_BYTES)"}
    status, _, body = _exchange(live, _head("/v2/models/base/infer", f"Content-Length: {LIMIT + 1}"))
    assert status == 413 and "PLACEQ_MAX_BODY_BYTES" in body["error"]  # the Open Inference Protocol's shape


@pytest.mark.parametrize("path", ["/predict", "/designs", "/v2/models/base/infer"])
def test_a_chunked_body_is_refused_once_it_passes_the_limit(live: tuple[str, int], path: str) -> None:
    """Chunks that never end (no last chunk is sent): the server answers 413 once the count passes the limit,
    so it never waited for, or kept, the whole body."""
    chunks = [_chunk(b"[" + b" " * 8190 + b"]")] * (LIMIT // 8192 + 1)
    status, headers, body = _exchange(live, _head(path, "Transfer-Encoding: chunked"), chunks)
    assert status == 413 and headers["connection"] == "close"
    message = body["error" if path.startswith("/v2") else "detail"]
    assert message == f"request body too large: the streamed body exceeds the limit of {LIMIT} bytes " \
                      "(PLACEQ_MAX_BODY_BYTES)"


def test_bodies_under_the_limit_pass_chunked_or_not(live: tuple[str, int], example: Placement) -> None:
    payload = json.dumps({"placement": json.loads(example.model_dump_json())}).encode()
    assert len(payload) < LIMIT
    pieces = [_chunk(payload[i : i + 4096]) for i in range(0, len(payload), 4096)] + [b"0\r\n\r\n"]
    status, _, body = _exchange(live, _head("/predict", "Transfer-Encoding: chunked", "Connection: close"), pieces)
    assert status == 200 and body["design"] == "ota1" and len(body["results"]) == 1
    head = _head("/predict", f"Content-Length: {len(payload)}", "Connection: close")
    status, _, again = _exchange(live, head, [payload])
    assert status == 200 and again["results"] == body["results"]


def test_unsupported_methods_answer_405_listing_every_method_of_the_path(live: tuple[str, int]) -> None:
    def call(method: str, path: str) -> tuple[int, dict[str, str], Any]:
        return _exchange(live, f"{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n")

    for method, path, allow, key in [
        ("PUT", "/designs", "GET, POST", "detail"),  # two routes share the path: Starlette alone says "POST"
        ("OPTIONS", "/designs", "GET, POST", "detail"),
        ("GET", "/models/base/rollback", "POST", "detail"),  # not GET /models/{design}/{version} with a bad int
        ("DELETE", "/models/base/1", "GET", "detail"),
        ("PATCH", "/healthz", "GET", "detail"),
        ("DELETE", "/v2/models/base/infer", "POST", "error"),
        ("PUT", "/v2", "GET", "error"),
        ("POST", "/ui/", "GET, HEAD", "detail"),  # the static web page
    ]:
        status, headers, body = call(method, path)
        assert (status, headers.get("allow"), body) == (405, allow, {key: "Method Not Allowed"}), (method, path)


# --- limits and bad input through the app (SQLite and PostgreSQL) ----------------------------------------------


def _client(settings: Settings, **update: object) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=update)))


def test_the_job_queue_is_bounded_and_counts_queued_and_running_jobs(settings: Settings, example: Placement) -> None:
    items = placements_json(example, 4)
    with _client(settings, max_queued_jobs=2) as client:
        store = client.app.state.runtime.store  # type: ignore[attr-defined]
        first = client.post("/label", json={"design": "ota1", "placements": items[:1]})
        second = client.post("/finetune", json={"design": "ota1", "placements": items, "labels": [0, 1, 0, 1]})
        assert (first.status_code, second.status_code) == (202, 202)
        store.claim_job(first.json()["id"], worker="test")  # running still counts
        for path, body in [("/label", {"design": "ota1", "placements": items[:1]}),
                           ("/finetune", {"design": "ota1", "placements": items, "values": [1.0, 2.0, 3.0, 4.0]})]:
            full = client.post(path, json=body)
            assert full.status_code == 503 and full.headers["Retry-After"] == "30"
            assert full.json()["detail"] == ("job queue full: 2 jobs queued or running, the limit is 2 "
                                             "(PLACEQ_MAX_QUEUED_JOBS); retry later")
        assert store.count_jobs() == 2 and len(store.list_jobs()) == 2  # nothing was written for the refusals
        store.finish(first.json()["id"], {"values": []}, worker="test")
        assert store.count_jobs() == 1 and store.count_jobs((JobState.SUCCEEDED,)) == 1
        assert client.post("/label", json={"design": "ota1", "placements": items[:1]}).status_code == 202


def test_predict_over_max_inflight_is_503_with_retry_after(settings: Settings, example: Placement) -> None:
    with _client(settings, max_inflight=1) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        assert runtime.inflight.acquire(blocking=False)  # one request is in flight
        try:
            r = client.post("/predict", json={"placement": json.loads(example.model_dump_json())})
        finally:
            runtime.inflight.release()
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
        assert r.json() == {"detail": "more than 1 requests in flight (PLACEQ_MAX_INFLIGHT)"}
        assert client.post("/predict", json={"placement": json.loads(example.model_dump_json())}).status_code == 200


def _loc(r: Any) -> list[list[object]]:
    return [e["loc"] for e in r.json()["detail"]]


def test_batch_netlist_device_and_pin_limits_name_the_field(settings: Settings, example: Placement) -> None:
    one = json.loads(example.model_dump_json())
    with _client(settings, max_batch=2, max_netlist_bytes=100) as client:
        r = client.post("/predict", json={"placements": [one] * 3})
        assert r.status_code == 422 and _loc(r) == [["body", "placements"]]
        assert "3 placements exceed the limit of 2 (PLACEQ_MAX_BATCH)" in r.text
        features = {"name": "features", "shape": [3, 18, 64, 64], "datatype": "FP32", "data": []}
        r = client.post("/v2/models/base/infer", json={"inputs": [features]})  # refused before decoding data
        assert r.status_code == 400 and r.json() == {
            "error": "inputs[0].shape: batch 3 exceeds the limit of 2 (PLACEQ_MAX_BATCH)"}

        netlist = "* ota\n" + "M1 d g s b nch w=1u l=1u\n" * 5
        r = client.post("/designs", json={"netlist": netlist})
        assert r.status_code == 422 and _loc(r) == [["body", "netlist"]]
        assert f"{len(netlist)} bytes exceeds the limit of 100 bytes (PLACEQ_MAX_NETLIST_BYTES)" in r.text

        many = dict(one, devices=[dict(one["devices"][0], name=f"D{i}") for i in range(MAX_DEVICES + 1)], pins=[])
        r = client.post("/predict", json={"placement": many})
        assert r.status_code == 422 and _loc(r) == [["body", "placement", "devices"]]
        assert f"at most {MAX_DEVICES} items" in r.text
        pin = one["pins"][0]
        r = client.post("/predict", json={"placement": dict(one, pins=[pin] * (MAX_PINS + 1))})
        assert r.status_code == 422 and _loc(r) == [["body", "placement", "pins"]]
        devices = [{"name": f"M{i}", "kind": "NMOS", "terminals": {"D": "d", "G": "g", "S": "s"}, "w": 1, "l": 1}
                   for i in range(MAX_DEVICES + 1)]
        r = client.post("/designs", json={"circuit": {"name": "huge", "devices": devices}})
        assert r.status_code == 422 and _loc(r) == [["body", "circuit", "devices"]]


def test_numbers_must_be_numbers_and_versions_fit(settings: Settings, example: Placement) -> None:
    """What the JSON Schema forbids is refused: a boolean or a string where a number goes, versions beyond the
    database's integers (they were a 500)."""
    one = json.loads(example.model_dump_json())
    with _client(settings) as client:
        for bad in (False, "1.5"):
            devices = [dict(one["devices"][0], w=bad), *one["devices"][1:]]
            r = client.post("/predict", json={"placement": dict(one, devices=devices)})
            assert r.status_code == 422 and _loc(r) == [["body", "placement", "devices", 0, "w"]]
        r = client.post("/finetune", json={"design": "ota1", "placements": [one] * 4, "labels": [0, 1, True, 0]})
        assert r.status_code == 422 and ["body", "labels", 2] in _loc(r)
        r = client.post("/finetune", json={"design": "ota1", "placements": [one] * 4, "values": [0, 1, 2, 3],
                                           "activate": "yes"})
        assert r.status_code == 422 and _loc(r) == [["body", "activate"]]
        far = [dict(one["devices"][0], x=90_000.0, w=20_000.0), *one["devices"][1:]]  # ends past 1e5 um
        for path, body in (("/draw", dict(one, devices=far)), ("/predict", {"placement": dict(one, devices=far)})):
            r = client.post(path, json=body)  # /draw was a 500: the placement's bounding box broke the limit
            assert r.status_code == 422 and "x + w: the device ends at 110000 um" in r.text, path
        r = client.get("/models/base/99999999999999999999")
        assert r.status_code == 422 and _loc(r) == [["path", "version"]]
        assert client.get("/models/base/0/lineage").status_code == 422
        assert client.get("/models/base/history").status_code == 200
        r = client.get("/models/bad name!/history")
        assert r.status_code == 422 and _loc(r) == [["path", "design"]]
        for version in ("99999999999", "0", "007", "²", "x1"):
            r = client.get(f"/v2/models/base/versions/{version}")
            assert r.status_code == 400 and r.json()["error"].startswith("path.version: "), version
        r = client.get("/v2/models/base/versions/2147483648")  # a number no version can have
        assert r.status_code == 404 and r.json() == {"error": "no model version base v2147483648"}
        huge = {"name": "features", "shape": [2**62, 18, 64, 64], "datatype": "FP32", "data": []}
        r = client.post("/v2/models/base/infer", json={"inputs": [huge]})  # was 0 values needed: a 500
        assert r.status_code == 400 and r.json()["error"].startswith("inputs.0.shape.0")


def test_a_body_that_is_not_utf8_json_is_a_4xx(settings: Settings) -> None:
    with _client(settings) as client:
        r = client.post("/predict", content=b"\xff\xfe{", headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body"]
        assert r.json()["detail"][0]["type"] == "json_invalid"
        r = client.post("/v2/models/base/infer", content=b"\x80", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"].startswith("body: the body is not JSON text")


@pytest.mark.parametrize("case", MALFORMED, ids=[c["name"] for c in MALFORMED])
def test_malformed_netlists_are_422_naming_the_line(client: TestClient, case: dict[str, str]) -> None:
    r = client.post("/designs", json={"netlist": case["netlist"]})
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", case["where"]] and error["type"] == "NetlistError"
    assert error["msg"].startswith(case["where"] + ": ") and case["words"] in error["msg"]
