"""Explore jobs (issue 17): a design space placed in chunks, scored, decided as a whole, served as JSON Lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from model_store import JobState, ModelStore, publish_model_dir
from placeq.circuits import load_design
from placeq.domain import Placement
from placeq.suggest import STRATEGIES
from service.settings import Settings
from service.workers.runner import run_job
from training.placer.config import PlacerConfig
from training.placer.space import generate_space

COUNT, SEED, CHUNK = 20, 3, 8  # three chunks: 8 + 8 + 4


def _explore(client: TestClient, settings: Settings, **body: object) -> dict[str, object]:
    r = client.post("/designs/ota1/explore", json=body)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "explore" and job["state"] == "queued"
    store: ModelStore = client.app.state.runtime.store  # type: ignore[attr-defined]
    done = run_job(store, job["id"], worker="test-worker",
                   settings=settings.model_copy(update={"explore_chunk_placements": CHUNK}))
    assert done.state == JobState.SUCCEEDED, done.error
    return job  # type: ignore[no-any-return]


def _lines(client: TestClient, job_id: str, **params: object) -> list[dict[str, object]]:
    r = client.get(f"/designs/ota1/explore/{job_id}/placements", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(s) for s in r.text.splitlines()]


def test_explore_places_the_space_in_chunks_scores_it_and_serves_the_survivors_best_first(
    client: TestClient, settings: Settings
) -> None:
    job = _explore(client, settings, count=COUNT, seed=SEED, prune_rate=0.25)
    store: ModelStore = client.app.state.runtime.store  # type: ignore[attr-defined]
    chunks = [j for j in store.list_jobs(kind="explore_chunk") if j.payload.get("parent") == job["id"]]
    assert sorted((j.payload["start"], j.payload["stop"]) for j in chunks) == [(0, 8), (8, 16), (16, 20)]
    assert all(j.state == JobState.SUCCEEDED for j in chunks)

    summary = client.get(f"/designs/ota1/explore/{job['id']}").json()
    assert summary["state"] == "succeeded" and summary["placements"] == COUNT
    assert (summary["kept"], summary["pruned"], summary["rule"]) == (15, 5, "rate")
    assert summary["model"]["design"] == "base" and summary["model"]["version"] == 1
    hist = summary["histogram"]
    assert sum(hist["kept"]) == 15 and sum(hist["pruned"]) == 5 and len(hist["edges"]) == len(hist["kept"]) + 1
    assert summary["best"][0]["score"] <= summary["worst"][-1]["score"] <= summary["worst"][0]["score"]
    stages = [c.result["seconds"] for c in chunks if c.result]
    assert len(stages) == 3 and summary["seconds"] == pytest.approx(
        {k: sum(s[k] for s in stages) for k in ("place", "score", "pack")}, abs=2e-3)
    assert summary["seconds"]["place"] > 0 and summary["seconds"]["score"] > 0

    # every placement, with its score: the chunks' slices are the rows of the whole space, as `placeq place`
    # --count 20 --seed 3 places it in one process
    every = _lines(client, job["id"], which="all", scored=True)
    assert [r["rank"] for r in every] == list(range(COUNT))
    scores = [r["score"] for r in every]
    assert scores == sorted(scores)  # best first
    assert [r["prune"] for r in every] == [False] * 15 + [True] * 5
    whole, _ = generate_space(load_design("ota1"), count=COUNT, seed=SEED, config=PlacerConfig(workers=1))
    for r in every:
        placed = Placement.model_validate(r["placement"])
        i = int(r["index"])  # type: ignore[call-overload]
        np.testing.assert_allclose([(d.x, d.y, d.w, d.h) for d in placed.devices], whole.boxes[i], atol=1e-9)

    # the survivors are bare placements, ready for /predict, which scores them as the job did
    kept = _lines(client, job["id"])
    assert len(kept) == 15
    predicted = client.post("/predict", json={"placements": kept}).json()
    probs = [s["probability"] for s in predicted["results"]]
    assert probs == pytest.approx(scores[:15], abs=1e-6)
    assert len(_lines(client, job["id"], which="pruned", limit=2)) == 2

    # what to label next: k placements not yet labelled, by each strategy
    for strategy in STRATEGIES:
        rows = _suggest(client, job["id"], k=4, strategy=strategy, scored=True, exclude=[0, 1])
        assert len({r["index"] for r in rows}) == 4 and not {0, 1} & {r["index"] for r in rows}
        assert all(Placement.model_validate(r["placement"]) for r in rows)
    assert len(_suggest(client, job["id"])) == 16  # default: 16 layouts, uncertain_spread
    for params, field in (({"k": COUNT + 1}, "k"), ({"strategy": "psychic"}, "strategy"),
                          ({"exclude": [COUNT]}, "exclude")):
        r = client.get(f"/designs/ota1/explore/{job['id']}/suggest", params=params)
        assert r.status_code == 422 and field in r.text, r.text


def _suggest(client: TestClient, job_id: str, **params: object) -> list[dict[str, object]]:
    r = client.get(f"/designs/ota1/explore/{job_id}/suggest", params=params)
    assert r.status_code == 200, r.text
    return [json.loads(s) for s in r.text.splitlines()]


def test_explore_by_threshold_prunes_what_predict_would(client: TestClient, settings: Settings) -> None:
    job = _explore(client, settings, count=12, seed=1)
    summary = client.get(f"/designs/ota1/explore/{job['id']}").json()
    assert summary["rule"] == "threshold" and summary["threshold"] == pytest.approx(0.5)
    every = _lines(client, job["id"], which="all", scored=True)
    assert all(r["prune"] == (r["score"] >= 0.5) for r in every)  # type: ignore[operator]
    assert summary["pruned"] == sum(bool(r["prune"]) for r in every)


def test_explore_requests_are_checked_before_a_job_exists(client: TestClient, settings: Settings) -> None:
    def refused(name: str, body: dict[str, object], code: int, field: str) -> None:
        r = client.post(f"/designs/{name}/explore", json=body)
        assert r.status_code == code, r.text
        assert field in r.text

    refused("nope", {"count": 8}, 404, "nope")
    refused("ota1", {"count": 0}, 422, "count")
    refused("ota1", {"count": 8, "prune_rate": 1.0}, 422, "prune_rate")
    refused("ota1", {"count": 8, "version": 7}, 404, "ota1")
    refused("ota1", {"count": 8, "extra": 1}, 422, "extra")
    store: ModelStore = client.app.state.runtime.store  # type: ignore[attr-defined]
    assert store.list_jobs(kind="explore") == []

    queued = client.post("/designs/ota1/explore", json={"count": 4}).json()
    r = client.get(f"/designs/ota1/explore/{queued['id']}/placements")
    assert r.status_code == 409 and "queued" in r.text  # not run yet
    assert client.get(f"/designs/ota2/explore/{queued['id']}").status_code == 404  # another design's id
    label = store.create_job("label", "ota1", {"placements": []})
    assert client.get(f"/designs/ota1/explore/{label.id}").status_code == 404  # not an explore job


def test_a_chunk_run_twice_stores_its_placements_once(client: TestClient, settings: Settings) -> None:
    """A redelivered chunk (its worker died after finishing) finds its row succeeded: no second set of parts,
    whether the runner stops it (terminal row) or it reaches `finish` again."""
    job = _explore(client, settings, count=8, seed=0)
    store: ModelStore = client.app.state.runtime.store  # type: ignore[attr-defined]
    (chunk,) = [j for j in store.list_jobs(kind="explore_chunk") if j.payload.get("parent") == job["id"]]
    before = store.job_parts(chunk.id, 0, 8)
    again = run_job(store, chunk.id, worker="another-worker", settings=settings)
    assert again.state == JobState.SUCCEEDED and store.job_parts(chunk.id, 0, 8) == before
    twice = store.finish(chunk.id, {"scores": []}, worker="another-worker", parts=[(0, 8, "{}")])
    assert twice.result == chunk.result and store.job_parts(chunk.id, 0, 8) == before
    assert np.isfinite(store.get_job(job["id"]).result["scores"]).all()  # type: ignore[index]


def _audit_job(store: ModelStore, design: str, placements: list[Placement], values: list[float]) -> str:
    """A succeeded label job of `placements` with these values (what `/label` leaves behind), on the real store."""
    job = store.create_job("label", design, {"placements": [p.model_dump(mode="json") for p in placements]})
    store.claim_job(job.id, worker="test-labeller")
    store.finish(job.id, {"metric": "offset", "label_source": "test", "values": values, "ok": [True] * len(values),
                          "reasons": [""] * len(values), "failed": 0}, worker="test-labeller")
    return job.id


def test_explore_to_a_for_target_prunes_the_least_share_that_meets_it_on_the_audit_layouts(
    client: TestClient, settings: Settings
) -> None:
    store: ModelStore = client.app.state.runtime.store  # type: ignore[attr-defined]
    audit_batch, _ = generate_space(load_design("ota1"), count=32, seed=11, config=PlacerConfig(workers=1))
    audit = audit_batch.placements()
    scored = client.post("/predict", json={"placements": [p.model_dump(mode="json") for p in audit]}).json()
    # offsets that follow the model's score, except two bad layouts it scores as good: they must leak or be cut
    values = [s["probability"] for s in scored["results"]]
    order = np.argsort(values)
    values[int(order[0])], values[int(order[-1])] = values[int(order[-1])], values[int(order[0])]
    audit_id = _audit_job(store, "ota1", audit, values)

    job = _explore(client, settings, count=40, seed=SEED, for_target=0.1, audit=audit_id)
    summary = client.get(f"/designs/ota1/explore/{job['id']}").json()
    target = summary["for_target"]
    assert summary["rule"] == "for_target" and target["audit_job"] == audit_id
    assert (target["audit"], target["audit_bad"]) == (32, 8) and target["met"]
    assert target["estimated_for"] <= 0.1 <= target["upper_95"] <= 1.0
    assert summary["prune_rate"] == target["prune_rate"] and summary["pruned"] == round(40 * target["prune_rate"])

    # checked independently: the audit's FOR at the chosen cut meets the target, one pruned layout fewer does not
    space = np.array([r["score"] for r in _lines(client, job["id"], which="all", scored=True)])  # best first
    probs = np.array([s["probability"] for s in scored["results"]])
    bad = np.asarray(values) >= np.quantile(values, 0.75)

    def leaked(pruned: int) -> float:
        kept = probs < space[::-1][pruned - 1] if pruned else np.ones(len(probs), dtype=bool)
        return float(bad[kept].sum() / max(kept.sum(), 1))

    assert leaked(summary["pruned"]) == pytest.approx(target["estimated_for"]) and leaked(summary["pruned"]) <= 0.1
    assert all(leaked(k) > 0.1 for k in range(summary["pruned"]))

    # refused before a job exists, naming the field
    queued = store.create_job("label", "ota1", {"placements": []}).id
    other = _audit_job(store, "ota2", audit[:8], values[:8])
    for body, field in (({"for_target": 0.1}, "audit"), ({"audit": audit_id}, "audit"),
                        ({"for_target": 0.1, "audit": audit_id, "prune_rate": 0.2}, "for_target"),
                        ({"for_target": 0.1, "audit": queued}, "audit"),
                        ({"for_target": 0.1, "audit": other}, "audit")):
        r = client.post("/designs/ota1/explore", json={"count": 8, **body})
        assert r.status_code == 422 and field in r.text, (body, r.text)
    r = client.post("/designs/ota1/explore", json={"count": 8, "for_target": 0.1, "audit": "no-such-job"})
    assert r.status_code == 404 and "audit" in r.text


def test_progress_scores_the_base_and_every_fine_tuned_version_on_the_same_audit_layouts(
    client: TestClient, settings: Settings, model_dir: Path
) -> None:
    store: ModelStore = client.app.state.runtime.store  # type: ignore[attr-defined]
    audit_batch, _ = generate_space(load_design("ota1"), count=16, seed=21, config=PlacerConfig(workers=1))
    audit = [p.model_dump(mode="json") for p in audit_batch.placements()]
    values = [float(v) for v in np.random.default_rng(5).lognormal(-7, 1, size=16)]
    audit_id = _audit_job(store, "ota1", audit_batch.placements(), values)
    bad = np.asarray(values) >= np.quantile(values, 0.75)

    def audit_for(version: int | None) -> float:  # independently: /predict's scores, the worst 4 of 16 pruned
        body: dict[str, object] = {"placements": audit, "prune_rate": 0.25}
        if version is not None:
            body["model_version"] = version
        kept = ~np.array([s["prune"] for s in client.post("/predict", json=body).json()["results"]])
        return float(bad[kept].mean())

    cache = client.app.state.runtime.cache  # type: ignore[attr-defined]

    def progress() -> dict[str, object]:
        pinned = dict(cache._pinned)
        r = client.get("/designs/ota1/progress", params={"audit": audit_id})
        assert cache._pinned == pinned  # a sweep over versions borrows models, it does not evict /predict's
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    first = progress()
    assert (first["audit"], first["audit_bad"], first["random_pruning"]) == (16, 4, 0.25)
    [base] = first["versions"]  # type: ignore[misc]
    assert (base["design"], base["labels"], base["live"]) == ("base", 0, True)
    assert base["for"] == pytest.approx(audit_for(None))

    train, _ = generate_space(load_design("ota1"), count=16, seed=22, config=PlacerConfig(workers=1))
    shots = [p.model_dump(mode="json") for p in train.placements()]
    for i, parent in ((0, None), (1, 1)):  # v1 from the base on 8 labels, v2 from v1 on 8 more
        body = {"design": "ota1", "placements": shots[8 * i: 8 * i + 8], "epochs": 1,
                "values": [float(v) for v in np.random.default_rng(i).lognormal(-7, 1, size=8)]}
        if parent is not None:
            body["base_version"] = parent
        job = client.post("/finetune", json=body).json()
        done = run_job(store, job["id"], worker="test-worker")
        assert done.state == JobState.SUCCEEDED and (done.result or {})["labels"] == 8  # what progress adds up
    rows = progress()["versions"]
    assert [(r["design"], r["version"], r["labels"], r["live"]) for r in rows] == [  # type: ignore[attr-defined]
        ("base", 1, 0, True), ("ota1", 1, 8, False), ("ota1", 2, 16, False)]
    for r in rows[1:]:  # type: ignore[index]
        assert r["for"] == pytest.approx(audit_for(r["version"]))
    # a model trained elsewhere (placeq train, published from its directory): how many labels is not known
    publish_model_dir(store, model_dir, design="ota1", created_by="cli", idempotency_key="trained-elsewhere")
    assert progress()["versions"][-1]["labels"] is None  # type: ignore[index]

    for params, code, field in (({"audit": "no-such-job"}, 404, "audit"), ({}, 422, "audit"),
                                ({"audit": audit_id, "prune_rate": 1.0}, 422, "prune_rate")):
        r = client.get("/designs/ota1/progress", params=params)
        assert r.status_code == code and field in r.text, r.text
    few = _audit_job(store, "ota1", audit_batch.placements()[:4], values[:4])
    r = client.get("/designs/ota1/progress", params={"audit": few})
    assert r.status_code == 422 and "audit" in r.text and "8 or more" in r.text
    assert client.get("/designs/nope/progress", params={"audit": audit_id}).status_code == 404


def test_a_design_without_a_live_model_explores_with_the_base_and_without_any_model_is_refused(
    client: TestClient, settings: Settings
) -> None:
    store: ModelStore = client.app.state.runtime.store  # type: ignore[attr-defined]
    job = _explore(client, settings, count=4, seed=1)  # ota1 has no live model: the base model scores it
    assert client.get(f"/designs/ota1/explore/{job['id']}").json()["model"]["design"] == "base"

    queued = client.post("/designs/ota1/explore", json={"count": 4}).json()
    store.delete_alias("base", actor="test", reason="no model at all")
    r = client.post("/designs/ota1/explore", json={"count": 4})
    assert r.status_code == 409 and "no live model" in r.text and "version" in r.text, r.text
    # a job queued while a model existed fails with the reason, it is not lost
    done = run_job(store, queued["id"], worker="test-worker", settings=settings)
    assert done.state == JobState.FAILED and "no live model for 'ota1' and no base model" in (done.error or "")
