"""Fault: a Celery worker SIGKILLed in the middle of a fine-tune -> the job is delivered again and publishes exactly
one model version (counted in SQL), and ends succeeded.

Real processes throughout: `celery -A service.workers.celery_app worker` (prefork, one child) on the machine's
Redis, the job rows and versions in PostgreSQL. Two ways to die:
- the pool child is killed (the OOM killer's choice): the parent sees the worker lost, `acks_late` +
  `task_reject_on_worker_lost` put the message back, and the redelivered task takes the job over from the dead
  child at once (its holder is a dead process on this host);
- the whole worker is killed (the container or machine went away): nobody will ack or reject, Redis keeps the
  message unacked for the visibility timeout (45 min), and the API's reaper re-queues the job once its
  heartbeat is stale and sends it again; a fresh worker runs it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from service_helpers import (
    count_versions,
    finetune_payload,
    kill_group,
    log_tail,
    pid_alive,
    service_env,
    start_celery_worker,
    wait_job,
)

from model_store import BASE_DESIGN, Job, JobState, ModelStore, publish_model_dir
from placeq.domain import Placement
from service.api.app import create_app
from service.settings import Settings
from service.workers.celery_app import make_celery
from service.workers.runner import run_job

BROKER = "redis://127.0.0.1:6379/12"  # the machine's Redis; a database of its own for these tests
EPOCHS = 25  # seconds of training: the kill lands well inside it
DONE = {JobState.SUCCEEDED, JobState.FAILED}


def _flush() -> None:
    with redis.Redis.from_url(BROKER) as r:
        r.flushdb()


@pytest.fixture
def store(pg_clean_url: str, tmp_path: Path, model_dir: Path) -> Iterator[ModelStore]:
    _flush()
    with ModelStore(pg_clean_url, tmp_path / "blobs") as s:
        publish_model_dir(s, model_dir, design=BASE_DESIGN, created_by="test", activate=True)
        yield s
    _flush()


def _training(store: ModelStore, job_id: str) -> Job:
    """The job once it is inside the fine-tune proper (features ready, nothing published yet)."""
    job = wait_job(store, job_id, {JobState.RUNNING}, timeout=120)
    while job.state == JobState.RUNNING and job.progress < 0.1:
        job = wait_job(store, job_id, {JobState.RUNNING, *DONE}, timeout=120)
    assert job.state == JobState.RUNNING and job.progress < 0.8, job
    return job


def _assert_published_once(store: ModelStore, url: str, job_id: str, log: Path) -> Job:
    done = wait_job(store, job_id, DONE, timeout=300)
    assert done.state == JobState.SUCCEEDED, (done.error, log_tail(log))
    assert count_versions(url, "ota1") == 1  # exactly one version, counted in SQL
    assert done.result is not None and done.result["version"] == 1
    (version,) = store.list_versions("ota1")
    assert version.idempotency_key == f"job-{job_id}"
    return done


def test_pool_child_killed_job_redelivered_by_broker(
    store: ModelStore, pg_clean_url: str, tmp_path: Path, example: Placement
) -> None:
    env = service_env(
        database_url=pg_clean_url,
        blob_root=tmp_path / "blobs",
        home=tmp_path / "home",
        broker_url=BROKER,
        worker="celery",
        job_stale_after_s=600,
    )
    log = tmp_path / "celery.log"
    job = store.create_job("finetune", "ota1", finetune_payload(example, epochs=EPOCHS))
    sender = make_celery(BROKER)
    worker = start_celery_worker(env, log)
    try:
        sender.send_task("placeq.run_job", args=[job.id], task_id=f"{job.id}-0")
        running = _training(store, job.id)
        assert running.worker is not None
        child = int(running.worker.rpartition(":")[2])
        assert child != worker.pid  # the prefork child runs it, not the parent
        os.kill(child, signal.SIGKILL)
        assert count_versions(pg_clean_url, "ota1") == 0

        # No API process, hence no reaper, and a stale window of 10 min: only the broker can bring it back.
        done = _assert_published_once(store, pg_clean_url, job.id, log)
        assert done.attempts == 2
        assert done.worker != running.worker
        assert worker.poll() is None  # the worker itself survived and replaced its child
        assert "is dead; taken over (attempt 2)" in log.read_text()
        assert not pid_alive(child)
    finally:
        sender.close()
        kill_group(worker)


def test_whole_worker_killed_job_requeued_by_reaper(
    store: ModelStore, pg_clean_url: str, tmp_path: Path, model_dir: Path, example: Placement
) -> None:
    stale_s = 6.0
    env = service_env(
        database_url=pg_clean_url,
        blob_root=tmp_path / "blobs",
        home=tmp_path / "home",
        broker_url=BROKER,
        worker="celery",
        job_stale_after_s=stale_s,
    )
    settings = Settings(
        database_url=pg_clean_url,
        blob_root=tmp_path / "blobs",
        home=tmp_path / "home",
        broker_url=BROKER,
        worker="celery",
        base_model=model_dir,
        reload_interval_s=0.5,
        job_stale_after_s=stale_s,
    )
    first_log, second_log = tmp_path / "celery1.log", tmp_path / "celery2.log"
    first = start_celery_worker(env, first_log)
    second = None
    try:
        with TestClient(create_app(settings)) as client:
            body = finetune_payload(example, epochs=EPOCHS)
            r = client.post("/finetune", json={k: v for k, v in body.items() if v is not None})
            assert r.status_code == 202, r.text
            job_id = r.json()["id"]
            _training(store, job_id)
            kill_group(first)  # SIGKILL to the worker and its pool child at once
            assert count_versions(pg_clean_url, "ota1") == 0
            with redis.Redis.from_url(BROKER) as rd:
                assert rd.hlen("unacked") == 1  # the dead worker's message: Redis returns it only in 45 min

            second = start_celery_worker(env, second_log)
            done = _assert_published_once(store, pg_clean_url, job_id, second_log)
            assert done.attempts >= 2
            assert client.get(f"/jobs/{job_id}").json()["state"] == "succeeded"
    finally:
        kill_group(first)
        if second is not None:
            kill_group(second)


def _dead_worker_name() -> str:
    """`host:pid` of a process of this host that has exited (as a SIGKILLed pool child leaves it in the row)."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    return f"{socket.gethostname()}:{gone.pid}"


@pytest.mark.parametrize("max_attempts", [3, 1])
def test_redelivery_takes_over_from_a_dead_holder_until_max_attempts(
    store: ModelStore, tmp_path: Path, max_attempts: int
) -> None:
    """A redelivered job held by a dead process runs again at once, but not forever: at `job_max_attempts` it
    fails (a job that kills its worker would otherwise loop through `reject_on_worker_lost` redeliveries)."""
    job = store.create_job("nosuchkind", "ota1", {})  # fails fast once it runs: enough to see who ran it
    dead = _dead_worker_name()
    held = store.claim_job(job.id, worker=dead)
    assert held is not None and held.attempts == 1
    settings = Settings(home=tmp_path / "home", job_max_attempts=max_attempts)
    done = run_job(store, job.id, worker="redelivery", stale_after=600, settings=settings)
    assert done.state == JobState.FAILED
    if max_attempts > 1:  # taken over and run (it then fails for its own reason)
        assert (done.worker, done.attempts) == ("redelivery", 2)
        assert done.error == "unknown job kind 'nosuchkind'"
    else:  # not run again
        assert (done.worker, done.attempts) == (dead, 1)
        assert done.error == f"worker {dead} died; gave up after 1 attempts"


def test_a_live_holder_is_left_alone(store: ModelStore, tmp_path: Path) -> None:
    job = store.create_job("nosuchkind", "ota1", {})
    alive = f"{socket.gethostname()}:{os.getpid()}"
    assert store.claim_job(job.id, worker=alive) is not None
    done = run_job(store, job.id, worker="redelivery", stale_after=600, settings=Settings(home=tmp_path / "h"))
    assert (done.state, done.worker, done.attempts) == (JobState.RUNNING, alive, 1)
