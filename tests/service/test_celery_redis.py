"""Deployment mode: API enqueues on the real Redis, a real Celery worker runs the job, PostgreSQL holds the rows."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from fastapi.testclient import TestClient
from service_helpers import placements_json

from placeq.domain import Placement
from service.api.app import create_app
from service.settings import Settings, get_settings

BROKER = "redis://127.0.0.1:6379/14"


@pytest.fixture
def celery_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_clean_url: str) -> Iterator[Settings]:
    _flush()
    env = {"PLACEQ_DATABASE_URL": pg_clean_url, "PLACEQ_BROKER_URL": BROKER, "PLACEQ_WORKER": "celery",
           "PLACEQ_BLOB_ROOT": str(tmp_path / "blobs"), "PLACEQ_HOME": str(tmp_path / "home")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    from service.workers import tasks

    tasks.store.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
    tasks.store.cache_clear()
    _flush()


def _flush() -> None:
    with redis.Redis.from_url(BROKER) as r:
        r.flushdb()


def test_finetune_through_redis_and_a_celery_worker(celery_env: Settings, model_dir: Path, example: Placement) -> None:
    from service.workers.celery_app import app as celery_app

    celery_app.conf.broker_url = BROKER
    settings = celery_env.model_copy(update={"base_model": model_dir, "reload_interval_s": 0.2})
    try:
        _run(settings, model_dir, example, celery_app)
    finally:
        celery_app.close()


def _run(settings: Settings, model_dir: Path, example: Placement, celery_app: object) -> None:
    with TestClient(create_app(settings)) as client, start_worker(
        celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30  # type: ignore[arg-type]
    ):
        ready = client.get("/readyz").json()
        assert ready["checks"]["broker"] is True
        items = placements_json(example, 12, seed=7)
        r = client.post("/finetune", json={"design": "ota1", "placements": items, "labels": [0, 1] * 6,
                                           "epochs": 2, "activate": True})
        assert r.status_code == 202, r.text
        url = r.headers["Location"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = client.get(url).json()
            if job["state"] in ("succeeded", "failed"):
                break
            time.sleep(0.3)
        assert job["state"] == "succeeded", job
        assert job["result"]["activated"] is True
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            body = client.post("/predict", json={"placement": json.loads(example.model_dump_json())}).json()
            if body["model"]["design"] == "ota1":
                break
            time.sleep(0.2)
        result = job["result"]
        assert body["model"] == {"design": "ota1", "version": result["version"], "sha256": result["sha256"]}
