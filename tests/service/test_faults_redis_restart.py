"""Fault: Redis (the Celery broker) stops and comes back while a fine-tune runs -> every job still finishes.

A private redis-server, configured as docker-compose runs it (append-only file, `noeviction`), on a free port,
so the machine's shared Redis is never touched. While job A runs on a real Celery worker and job B waits in the
Redis queue behind it, Redis is stopped with SIGTERM (as `docker compose stop` does), a job C is submitted while
it is down, and Redis is started again on the same port and directory. Then:
- A was not restarted (`worker_cancel_long_running_tasks_on_connection_loss` off: one attempt);
- B survived in the append-only file and runs;
- C was accepted (202) although the broker was down: its row waits in SQL marked "not yet on the broker", and
  the API's reaper sends it once Redis is back;
- /readyz says the broker is down (503) while it is, and ready again after;
- each job published exactly one version.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from service_helpers import (
    RedisServer,
    count_versions,
    finetune_payload,
    kill_group,
    log_tail,
    service_env,
    start_celery_worker,
    wait_for,
    wait_job,
)

from model_store import JobState, ModelStore
from placeq.domain import Placement
from service.api.app import create_app
from service.runtime import UNSENT
from service.settings import Settings

DONE = {JobState.SUCCEEDED, JobState.FAILED}
QUEUE = "placeq"  # the Celery queue: a Redis list of that name


@pytest.fixture
def store(pg_clean_url: str, tmp_path: Path) -> Iterator[ModelStore]:
    with ModelStore(pg_clean_url, tmp_path / "blobs") as s:
        yield s


def _finetune(client: TestClient, example: Placement, *, epochs: int, seed: int) -> str:
    body: dict[str, Any] = {
        k: v for k, v in finetune_payload(example, epochs=epochs, seed=seed).items() if v is not None
    }
    r = client.post("/finetune", json=body)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def test_redis_restart_during_a_job(
    store: ModelStore, pg_clean_url: str, tmp_path: Path, model_dir: Path, example: Placement
) -> None:
    log = tmp_path / "celery.log"
    with RedisServer(tmp_path / "redis") as broker:
        common: dict[str, Any] = {
            "database_url": pg_clean_url,
            "blob_root": tmp_path / "blobs",
            "home": tmp_path / "home",
            "broker_url": broker.url(),
            "worker": "celery",
            "job_stale_after_s": 60.0,
        }
        settings = Settings(**common, base_model=model_dir, reload_interval_s=0.5)
        worker = start_celery_worker(service_env(**common), log)
        try:
            with TestClient(create_app(settings)) as client:
                assert client.get("/readyz").status_code == 200
                a = _finetune(client, example, epochs=40, seed=1)
                wait_for("job A training", lambda: store.get_job(a).progress >= 0.1, timeout=120)
                b = _finetune(client, example, epochs=2, seed=2)
                with redis.Redis(port=broker.port) as rd:  # B waits in Redis: the one worker is busy with A
                    wait_for("job B in the Redis queue", lambda: rd.llen(QUEUE) == 1, timeout=30)

                broker.stop()
                assert store.get_job(a).state == JobState.RUNNING  # Redis went away in the middle of A
                down = client.get("/readyz")
                assert down.status_code == 503, down.text
                assert down.json()["checks"]["broker"] is False and down.json()["checks"]["database"] is True
                c = _finetune(client, example, epochs=2, seed=3)  # accepted while the broker is down
                pending = store.get_job(c)
                assert pending.state == JobState.QUEUED and pending.message.startswith(UNSENT), pending

                broker.start()  # same port, same directory: the append-only file brings B back
                wait_for("/readyz ready again", lambda: client.get("/readyz").status_code == 200, timeout=60)

                jobs = {
                    name: wait_job(store, job_id, DONE, timeout=300)
                    for name, job_id in {"A": a, "B": b, "C": c}.items()
                }
                for name, job in jobs.items():
                    assert job.state == JobState.SUCCEEDED, (name, job.error, log_tail(log))
                assert jobs["A"].attempts == 1  # finished by the worker that started it, not restarted
                assert count_versions(pg_clean_url, "ota1") == 3
                assert sorted(job.result["version"] for job in jobs.values() if job.result) == [1, 2, 3]
        finally:
            kill_group(worker)
