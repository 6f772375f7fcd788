"""Prune decisions that hold across design spaces (issue 14, part 4), on SQLite and the real PostgreSQL:
`/predict`'s and the OIP's prune_rate, 422/400 naming the field, and a fine-tune job that publishes a threshold
calibrated for its design and records how."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_helpers import placements_json

from placeq.artifact import ONNX
from placeq.circuits import load_design
from placeq.decision import prune_mask
from placeq.domain import Placement
from service.workers.runner import run_job
from training.calibration import DEFAULT_RULE, PLACED_COUNT, PLACED_SEED, onnx_scorer, placed_scores, quantile_threshold


def _predict(client: TestClient, body: dict[str, object]) -> dict[str, object]:
    r = client.post("/predict", json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("rate", [0.25, 0.35, 0.5, 0.96])
def test_prune_rate_prunes_round_r_n_of_the_batch_by_score(client: TestClient, example: Placement,
                                                           rate: float) -> None:
    items = placements_json(example, 10, seed=4)
    body = _predict(client, {"placements": items, "prune_rate": rate})
    assert body["rule"] == "rate" and body["prune_rate"] == rate
    probs = np.array([r["probability"] for r in body["results"]])  # type: ignore[attr-defined]
    pruned = np.array([r["prune"] for r in body["results"]])  # type: ignore[attr-defined]
    k = round(rate * len(items))
    assert pruned.sum() == body["pruned"] == k
    assert probs[pruned].min() >= probs[~pruned].max(initial=0.0)  # the k highest scores
    plain = _predict(client, {"placements": items})  # existing clients: the stored threshold decides
    assert plain["rule"] == "threshold" and plain["prune_rate"] is None
    assert [r["prune"] for r in plain["results"]] == [r["probability"] >= plain["threshold"]  # type: ignore[attr-defined]
                                                     for r in plain["results"]]  # type: ignore[attr-defined]


def test_prune_rate_breaks_ties_by_position(client: TestClient, example: Placement) -> None:
    same = [json.loads(example.model_dump_json())] * 8
    body = _predict(client, {"placements": same, "prune_rate": 0.25})
    assert [r["prune"] for r in body["results"]] == [True, True] + [False] * 6  # type: ignore[attr-defined]
    assert prune_mask(np.array([0.2, 0.9, 0.9, 0.1], np.float32), 0.5, 0.5).tolist() == [False, True, True, False]


@pytest.mark.parametrize("rate", [0, 1, -0.1, 1.5, "0.3", True, float("nan")])
def test_bad_prune_rate_is_422_naming_the_field(client: TestClient, example: Placement, rate: object) -> None:
    body = json.dumps({"placement": json.loads(example.model_dump_json()), "prune_rate": rate})
    r = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert any(e["loc"] == ["body", "prune_rate"] for e in r.json()["detail"]), r.text


def test_oip_takes_prune_rate_as_a_parameter(client: TestClient) -> None:
    x = np.random.default_rng(0).random((4, 18, 64, 64), dtype=np.float32)
    inputs = [{"name": "features", "shape": [4, 18, 64, 64], "datatype": "FP32", "data": x.ravel().tolist()}]
    r = client.post("/v2/models/base/infer", json={"inputs": inputs, "parameters": {"prune_rate": 0.5}})
    assert r.status_code == 200, r.text
    out = {o["name"]: o["data"] for o in r.json()["outputs"]}
    assert r.json()["parameters"]["rule"] == "rate" and sum(out["prune"]) == 2
    assert min(p for p, d in zip(out["probability"], out["prune"], strict=True) if d) >= max(
        p for p, d in zip(out["probability"], out["prune"], strict=True) if not d)
    assert client.post("/v2/models/base/infer", json={"inputs": inputs}).json()["parameters"]["rule"] == "threshold"
    bad = client.post("/v2/models/base/infer", json={"inputs": inputs, "parameters": {"prune_rate": 2}})
    assert bad.status_code == 400 and "parameters.prune_rate" in bad.json()["error"]


def test_finetune_job_publishes_the_threshold_calibrated_for_its_design(client: TestClient, example: Placement,
                                                                        tmp_path: Path) -> None:
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    items = placements_json(example, 16, seed=1)
    values = list(np.random.default_rng(2).normal(0, 1e-3, size=16))
    r = client.post("/finetune", json={"design": "ota1", "placements": items, "values": values, "epochs": 1,
                                       "activate": True})
    assert r.status_code == 202, r.text
    job = run_job(store, r.json()["id"], worker="test-worker")
    assert job.state.value == "succeeded", job.error
    model = client.get("/models/ota1/1").json()
    how = model["metrics"]["threshold_calibration"]
    assert how["rule"] == DEFAULT_RULE == "placed"
    assert how["threshold"] == model["threshold"] and how["previous_threshold"] == 0.5
    assert how["bad_share"] == 0.25 and how["n_labelled"] == 16 and how["seed"] == PLACED_SEED
    # The threshold is the published model's score quantile at the labels' bad share on the placer's sample.
    (tmp_path / ONNX).write_bytes(store.load_artifact("ota1", 1))
    scores = placed_scores(load_design("ota1"), onnx_scorer(tmp_path), nofeat=False, count=PLACED_COUNT,
                           seed=PLACED_SEED)
    assert how["n_scored"] == len(scores)
    assert model["threshold"] == pytest.approx(quantile_threshold(scores, 0.25), abs=1e-6)
    served = _predict(client, {"placements": items[:2]})
    assert served["model"]["version"] == 1 and served["threshold"] == model["threshold"]  # type: ignore[index]
