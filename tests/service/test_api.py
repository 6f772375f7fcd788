"""The service end to end on SQLite and on the real PostgreSQL: predict, fine-tune -> publish -> activate ->
rollback, jobs, designs, the Open Inference Protocol, errors that name the field."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_helpers import placements_json

from placeq.circuits import load_design
from placeq.domain import Placement
from service.workers.runner import run_job


def _predict(client: TestClient, placements: list[dict[str, object]]) -> dict[str, object]:
    r = client.post("/predict", json={"placements": placements})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_predict_scores_with_the_base_model(client: TestClient, example: Placement) -> None:
    one = client.post("/predict", json={"placement": json.loads(example.model_dump_json())})
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["design"] == "ota1"
    assert body["model"]["design"] == "base" and body["model"]["version"] == 1
    (score,) = body["results"]
    assert 0.0 <= score["probability"] <= 1.0
    assert score["prune"] == (score["probability"] >= body["threshold"])
    batch = _predict(client, placements_json(example, 5))
    assert len(batch["results"]) == 5  # type: ignore[arg-type]
    again = _predict(client, [json.loads(example.model_dump_json())])
    assert again["results"][0] == score  # type: ignore[index]


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d["devices"][0].update(w=-1), ["body", "placements", 0, "devices", 0, "w"]),
        (lambda d: d["devices"][0].update(x=float("nan")), None),
        (lambda d: d["pins"][0].update(device="nope"), "pins[0].device: unknown device 'nope'"),
        (lambda d: d.update(devices=[]), ["body", "placements", 0, "devices"]),
    ],
)
def test_bad_placements_get_422_naming_the_field(client: TestClient, example: Placement, mutate, where) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(example.model_dump_json())
    mutate(data)
    body = json.dumps({"placements": [data]}).replace("NaN", "NaN")
    r = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    if isinstance(where, list):
        assert any(e["loc"] == where for e in detail), detail
    elif isinstance(where, str):
        assert any(where in e["msg"] for e in detail), detail


def test_one_design_per_call_and_batch_limit(client: TestClient, example: Placement) -> None:
    a = json.loads(example.model_dump_json())
    b = json.loads(example.model_dump_json())
    b["design"] = "ota2"
    r = client.post("/predict", json={"placements": [a, b]})
    assert r.status_code == 422
    assert "placements[1].design" in r.text
    r = client.post("/predict", json={"placement": a, "placements": [a]})
    assert r.status_code == 422 and "exactly one" in r.text


def test_finetune_publish_activate_rollback(client: TestClient, example: Placement) -> None:
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    items = placements_json(example, 16, seed=1)
    values = list(np.random.default_rng(2).normal(0, 1e-3, size=16))

    def finetune(**extra: object) -> dict[str, object]:
        body = {"design": "ota1", "placements": items, "values": values, "epochs": 2, **extra}
        r = client.post("/finetune", json=body)
        assert r.status_code == 202, r.text
        job = r.json()
        assert r.headers["Location"].endswith(f"/jobs/{job['id']}")
        assert job["state"] == "queued"
        run_job(store, job["id"], worker="test-worker")  # what the worker process does
        done = client.get(f"/jobs/{job['id']}").json()
        assert done["state"] == "succeeded", done
        assert done["progress"] == 1.0
        return done["result"]  # type: ignore[no-any-return]

    first = finetune()
    assert first["version"] == 1 and first["parent"] == {"design": "base", "version": 1}
    assert first["recipe"] == "gentle"  # auto: 16 labelled layouts are few-shot
    model = client.get("/models/ota1/1").json()
    assert model["metrics"]["lr"] == 1e-4
    # the job says which threshold the new version prunes at and how it was calibrated, as the version does
    assert first["threshold"] == model["threshold"] == first["threshold_calibration"]["threshold"]
    assert first["threshold_calibration"]["rule"] == model["metrics"]["threshold_calibration"]["rule"]
    assert model["parent"] == {"design": "base", "version": 1} and model["aliases"] == []
    assert _predict(client, items[:1])["model"]["design"] == "base"  # type: ignore[index]

    r = client.post("/models/ota1/1/activate", json={"reason": "few-shot model"})
    assert r.status_code == 200 and r.json()["aliases"] == ["live"]
    assert _predict(client, items[:1])["model"] == {"design": "ota1", "version": 1, "sha256": model["sha256"]}

    second = finetune(recipe="full")
    assert second["version"] == 2 and second["recipe"] == "full"
    assert client.get("/models/ota1/2").json()["metrics"]["lr"] == 1e-3
    lineage = client.get("/models/ota1/2/lineage").json()
    assert [(m["design"], m["version"]) for m in lineage] == [("ota1", 2), ("ota1", 1), ("base", 1)]
    client.post("/models/ota1/2/activate")
    assert _predict(client, items[:1])["model"]["version"] == 2  # type: ignore[index]
    back = client.post("/models/ota1/rollback", json={"reason": "v2 leaks bad layouts"})
    assert back.status_code == 200 and back.json()["version"] == 1
    assert _predict(client, items[:1])["model"]["version"] == 1  # type: ignore[index]
    history = client.get("/models/ota1/history").json()
    assert [(h["action"], h["from_version"], h["to_version"]) for h in history] == [
        ("set", None, 1), ("set", 1, 2), ("rollback", 2, 1)]
    assert history[-1]["reason"] == "v2 leaks bad layouts"
    pinned = client.post("/predict", json={"placements": items[:1], "model_version": 2}).json()
    assert pinned["model"]["version"] == 2


def test_finetune_job_is_idempotent_and_fails_with_a_reason(client: TestClient, example: Placement) -> None:
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    items = placements_json(example, 8, seed=3)
    body = {"design": "ota1", "placements": items, "labels": [0] * 8, "idempotency_key": "same-request"}
    a = client.post("/finetune", json=body).json()
    b = client.post("/finetune", json=body).json()
    assert a["id"] == b["id"]
    conflict = client.post("/finetune", json={**body, "labels": [1] * 8})
    assert conflict.status_code == 409
    failed = run_job(store, a["id"], worker="test-worker")
    assert failed.state.value == "failed"
    assert "same label" in (failed.error or "")
    assert client.get(f"/jobs/{a['id']}").json()["error"] == failed.error


def test_jobs_reject_unknown_designs_and_mismatched_placements(client: TestClient, example: Placement) -> None:
    items = placements_json(example, 4)
    r = client.post("/finetune", json={"design": "nosuch", "placements": items, "labels": [0, 1, 0, 1]})
    assert r.status_code == 404 and "nosuch" in r.text
    r = client.post("/label", json={"design": "ota2", "placements": items})
    assert r.status_code == 422 and "design" in r.text
    r = client.post("/finetune", json={"design": "ota1", "placements": items, "labels": [0, 1, 0, 1],
                                       "recipe": "hot"})
    assert r.status_code == 422 and "recipe" in r.text
    assert client.get("/jobs/doesnotexist").status_code == 404


def test_register_design_as_json(client: TestClient) -> None:
    circuit = json.loads(load_design("ota3").model_dump_json())
    circuit["name"] = "my_ota"
    r = client.post("/designs", json={"circuit": circuit})
    assert r.status_code == 201, r.text
    assert r.json()["devices"] == len(circuit["devices"])
    names = [d["name"] for d in client.get("/designs").json()]
    assert "my_ota" in names and "ota1" in names
    assert client.get("/designs/my_ota").json()["name"] == "my_ota"
    circuit["symmetry_pairs"] = [["NOPE", circuit["devices"][0]["name"]]]
    r = client.post("/designs", json={"circuit": circuit})
    assert r.status_code == 422 and "symmetry_pairs[0][0]" in r.text


def test_open_inference_protocol(client: TestClient, example: Placement) -> None:
    assert client.get("/v2").json()["name"] == "placeq"
    assert client.get("/v2/health/ready").status_code == 200
    meta = client.get("/v2/models/base").json()
    assert meta["platform"] == "onnxruntime_onnx" and meta["inputs"][0]["shape"] == [-1, 18, 64, 64]
    x = np.random.default_rng(0).random((2, 18, 64, 64), dtype=np.float32)
    req = {"id": "r1", "inputs": [{"name": "features", "shape": [2, 18, 64, 64], "datatype": "FP32",
                                   "data": x.ravel().tolist()}]}
    r = client.post("/v2/models/base/infer", json=req)
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    assert r.json()["id"] == "r1" and out["probability"]["shape"] == [2]
    assert client.post("/v2/models/base/versions/1/infer", json=req).json()["model_version"] == "1"
    placement = json.loads(example.model_dump_json()) | {"design": "base"}
    r = client.post("/v2/models/base/infer", json={"inputs": [
        {"name": "placement", "shape": [1], "datatype": "BYTES", "data": [json.dumps(placement)]}]})
    assert r.status_code == 200 and 0 <= r.json()["outputs"][0]["data"][0] <= 1
    bad = {"inputs": [{"name": "features", "shape": [1, 17, 64, 64], "datatype": "FP32", "data": [0.0]}]}
    r = client.post("/v2/models/base/infer", json=bad)
    assert r.status_code == 400 and "expected [B, 18, 64, 64]" in r.json()["error"]
    r = client.post("/v2/models/base/infer", json={"inputs": "nope"})
    assert r.status_code == 400 and "error" in r.json()
    assert client.get("/v2/models/nosuch").status_code == 404
    assert client.get("/v2/models/base/versions/9").status_code == 404


def test_health_metrics_and_web_page(client: TestClient) -> None:
    ready = client.get("/readyz").json()
    assert ready["ready"] and ready["live"] == {"base": 1}
    client.post("/predict", json={"placement": client.get("/examples/placement").json()})
    text = client.get("/metrics").text
    assert 'placeq_layouts_scored_total{design="base",version="1"}' in text
    assert "placeq_predict_seconds_bucket" in text
    page = client.get("/ui/")
    assert page.status_code == 200 and "placeq" in page.text
    assert client.get("/ui/app.js").status_code == 200


def test_alias_moves_reach_other_api_processes(settings, model_dir, example: Placement) -> None:  # type: ignore[no-untyped-def]
    """Two app instances on one database: activating on one is picked up by the other's poller."""
    from service.api.app import create_app

    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        store = a.app.state.runtime.store  # type: ignore[attr-defined]
        v = store.publish("ota1", (model_dir / "model.onnx").read_bytes(), created_by="test",
                          idempotency_key="other-process")
        a.post(f"/models/ota1/{v.version}/activate")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got = _predict(b, [json.loads(example.model_dump_json())])["model"]["design"]  # type: ignore[index]
            if got == "ota1":
                break
            time.sleep(0.1)
        assert got == "ota1"


def test_register_a_ut_anlay_spectre_netlist(client: TestClient, ut_anlay) -> None:  # type: ignore[no-untyped-def]
    stem = ut_anlay / "Telescopic_Three_stage"
    body = {
        "netlist": (stem.with_suffix(".sp")).read_text(),
        "types": json.loads(stem.with_suffix(".json").read_text()),
        "channels": json.loads(stem.with_suffix(".channel").read_text()),
        "symmetry_pairs": [["M12", "M5"], ["M3", "M110"]],
        "critical_nets": ["VSHP1", "VSHM1", "OUTP", "OUTM"],
    }
    r = client.post("/designs", json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["name"] == "Telescopic_Three_stage" and out["devices"] == 45
    assert out["critical_nets"] == ["VSHP1", "VSHM1", "OUTP", "OUTM"]
    bad = {**body, "channels": {**body["channels"], "M12": [7]}}
    r = client.post("/designs", json=bad)
    assert r.status_code == 422 and "channels.M12" in r.text
    r = client.post("/designs", json={"netlist": "M1 (a b c) nfet w=1u l=1u nf=0.5\n"})
    assert r.status_code == 422 and "netlist:1" in r.text


def test_a_bare_netlist_is_understood_on_register_and_says_what_it_inferred(client: TestClient) -> None:
    netlist = ("* 5T OTA\n.subckt ota vinp vinn vout vbias vdd vss\nM1 x vinp tail vss nch w=4u l=0.5u\n"
               "M2 vout vinn tail vss nch w=4u l=0.5u\nM3 x x vdd vdd pch w=8u l=0.5u\n"
               "M4 vout x vdd vdd pch w=8u l=0.5u\nM5 tail vbias vss vss nch w=8u l=1u\n"
               "D0 vss vdd diode\n.ends\n")
    r = client.post("/designs", json={"netlist": netlist, "name": "five_t"})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["devices"] == 5 and out["tagged"] == 5 and out["symmetry_pairs"] == 2
    assert out["provenance"] == {"tags": "inferred", "symmetry": "inferred", "critical_nets": "inferred",
                                 "testbench": "inferred"}
    said = " ".join(out["notes"])
    assert "input pair: M1 / M2" in said and "D0: drop" in said and out["critical_nets"][:2] == ["vinp", "vinn"]
    assert "bias voltage vbias = 0.7 V: it only drives NMOS gates" in said  # a drafted start, said so
    testbench = {"metric": "offset", "inputs": ["vinp", "vinn"], "outputs": ["vout"], "supplies": {"vdd": 1.8,
                 "vss": 0.0}, "common_mode": 0.9, "bias_voltages": {"vbias": 0.7}}
    r = client.post("/designs", json={"netlist": netlist, "name": "five_t", "testbench": testbench})
    assert r.status_code == 201 and r.json()["provenance"]["testbench"] == "given"
    stored = client.get("/designs/five_t").json()
    assert stored["testbench"]["bias_voltages"] == {"vbias": 0.7} and stored["provenance"]["tags"] == "inferred"
    plain = client.post("/designs", json={"netlist": netlist, "name": "five_t_plain", "infer": False}).json()
    assert plain["tagged"] == 0 and plain["provenance"] == {}


def test_finetune_past_its_time_limit_fails_with_the_reason(client: TestClient, example: Placement, settings) -> None:  # type: ignore[no-untyped-def]
    """The embedded worker has no Celery to kill a long fine-tune: training stops at the job's soft limit and the
    job is marked failed with why, never left running; progress moved per epoch before that."""
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    items = placements_json(example, 8, seed=5)
    job = client.post("/finetune", json={"design": "ota1", "placements": items, "labels": [0, 1] * 4,
                                         "epochs": 500}).json()
    tight = settings.model_copy(update={"job_soft_time_limit_s": 1.0})
    failed = run_job(store, job["id"], worker="test-worker", settings=tight)
    assert failed.state.value == "failed", failed
    assert "time limit of 1 s" in (failed.error or "") and "past the deadline" in (failed.error or "")
    assert 0.1 < failed.progress < 0.8 and (failed.message or "").startswith("epoch ")
    assert store.list_versions("ota1") == []
