"""Fault: ngspice crashes or hangs during a labelling job -> the job fails with its reason, never stays running.

The simulator path is pointed at a stand-in `ngspice` (PLACEQ_LABEL_BACKEND=batch, PLACEQ_NGSPICE=<script>) that
kills itself with SIGSEGV, sleeps for an hour, or runs the real ngspice, as the test asks. Everything else is real:
PostgreSQL, the `placeq worker` process, a redis-server and a Celery worker.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_helpers import (
    RedisServer,
    fake_ngspice,
    kill_group,
    log_tail,
    pid_alive,
    placements_json,
    service_env,
    start_celery_worker,
    start_embedded_worker,
    wait_for,
    wait_job,
)

from model_store import Job, JobState, ModelStore
from placeq.domain import Placement
from service.api.app import create_app
from service.settings import Settings
from service.workers.celery_app import make_celery

TIME_LIMIT_S = 4
DONE = {JobState.SUCCEEDED, JobState.FAILED}


@pytest.fixture
def store(pg_clean_url: str, tmp_path: Path) -> Iterator[ModelStore]:
    with ModelStore(pg_clean_url, tmp_path / "blobs") as s:
        yield s


def _spice_pids(spice_dir: Path) -> list[int]:
    path = spice_dir / "pids"
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _assert_crash(job: Job, log: Path) -> None:
    assert job.state == JobState.FAILED, (job, log_tail(log))
    assert job.error is not None and "SIGSEGV" in job.error, job.error
    assert job.attempts == 1  # a crash is a verdict, not a reason to run it again


def _assert_timeout(job: Job, spice_dir: Path, log: Path) -> None:
    assert job.state == JobState.FAILED, (job, log_tail(log))
    assert job.error is not None and f"time limit of {TIME_LIMIT_S} s" in job.error, job.error
    hung = _spice_pids(spice_dir)[-1]  # `exec sleep 3600` kept the pid it wrote
    wait_for(f"the hung ngspice (pid {hung}) to be killed", lambda: not pid_alive(hung), timeout=30)


def _worker_env(pg_url: str, tmp_path: Path, ngspice: Path, **extra: str | float) -> dict[str, str]:
    """Environment of a worker subprocess that labels with `ngspice -b` = the fake `ngspice` script."""
    settings: dict[str, str | Path | float] = {
        "database_url": pg_url,
        "blob_root": tmp_path / "blobs",
        "home": tmp_path / "home",
        "label_backend": "batch",
        "label_time_limit_s": TIME_LIMIT_S,
        "ngspice": ngspice,
    }
    return service_env(**{**settings, **extra})


def test_embedded_worker_fails_crashed_and_hung_ngspice(
    store: ModelStore, pg_clean_url: str, tmp_path: Path, example: Placement
) -> None:
    spice = tmp_path / "spice"
    exe = fake_ngspice(spice, "segv")
    env = _worker_env(pg_clean_url, tmp_path, exe)
    log = tmp_path / "worker.log"
    worker = start_embedded_worker(env, log)
    try:
        crash = store.create_job("label", "ota1", {"placements": placements_json(example, 3, seed=1)})
        _assert_crash(wait_job(store, crash.id, DONE, timeout=120), log)

        # libngspice segfaulting inside the simulating process (here: the stand-in kills its parent)
        (spice / "mode").write_text("segv-parent")
        dies = store.create_job("label", "ota1", {"placements": placements_json(example, 3, seed=9)})
        _assert_crash(wait_job(store, dies.id, DONE, timeout=120), log)
        assert "the simulator process was killed by SIGSEGV" in (store.get_job(dies.id).error or "")
        orphan = _spice_pids(spice)[-1]  # its stand-in ngspice went down with the process group
        wait_for(f"the orphaned ngspice (pid {orphan}) to be killed", lambda: not pid_alive(orphan), timeout=30)

        (spice / "mode").write_text("hang")
        hang = store.create_job("label", "ota1", {"placements": placements_json(example, 3, seed=2)})
        _assert_timeout(wait_job(store, hang.id, DONE, timeout=120), spice, log)

        # The same worker process is still healthy and labels with the real ngspice.
        (spice / "mode").write_text("ok")
        ok = store.create_job("label", "ota1", {"placements": placements_json(example, 3, seed=3)})
        done = wait_job(store, ok.id, DONE, timeout=120)
        assert done.state == JobState.SUCCEEDED, (done, log_tail(log))
        assert done.result is not None and done.result["failed"] == 0
        assert all(v is not None and math.isfinite(v) for v in done.result["values"])
    finally:
        kill_group(worker)
    assert worker.returncode is not None


def test_celery_worker_fails_crashed_and_hung_ngspice(
    store: ModelStore, pg_clean_url: str, tmp_path: Path, example: Placement
) -> None:
    spice = tmp_path / "spice"
    exe = fake_ngspice(spice, "hang")
    log = tmp_path / "celery.log"
    with RedisServer(tmp_path / "redis") as broker:
        env = _worker_env(pg_clean_url, tmp_path, exe, broker_url=broker.url(), worker="celery")
        settings = Settings(
            database_url=pg_clean_url,
            blob_root=tmp_path / "blobs",
            home=tmp_path / "home",
            broker_url=broker.url(),
            worker="celery",
            reload_interval_s=0.2,
        )
        worker = start_celery_worker(env, log)
        with TestClient(create_app(settings)) as client:
            try:
                body = {"design": "ota1", "placements": placements_json(example, 3, seed=4)}
                r = client.post("/label", json=body)
                assert r.status_code == 202, r.text
                _assert_timeout(wait_job(store, r.json()["id"], DONE, timeout=180), spice, log)

                (spice / "mode").write_text("segv")
                r = client.post("/label", json={**body, "placements": placements_json(example, 3, seed=5)})
                assert r.status_code == 202, r.text
                _assert_crash(wait_job(store, r.json()["id"], DONE, timeout=120), log)
                job = client.get(r.headers["Location"]).json()
                assert job["state"] == "failed" and "SIGSEGV" in job["error"], json.dumps(job)
            finally:
                kill_group(worker)


def test_label_job_default_backend_runs_in_a_child(store: ModelStore, tmp_path: Path, example: Placement) -> None:
    """The default path (libngspice in the isolated child) labels for real and reports progress."""
    from service.workers.runner import execute

    job = store.create_job("label", "ota1", {"placements": placements_json(example, 4, seed=6)})
    claimed = store.claim_next(worker="test")
    assert claimed is not None and claimed.id == job.id
    settings = Settings(home=tmp_path / "home", label_time_limit_s=120)
    assert settings.label_backend == "shared"
    done = execute(store, claimed, worker="test", settings=settings)
    assert done.state == JobState.SUCCEEDED, done.error
    assert done.progress == 1.0 and done.result is not None
    assert done.result["failed"] == 0 and len(done.result["values"]) == 4
    assert all(math.isfinite(v) for v in done.result["values"])


@pytest.mark.parametrize("limit", ["soft", "hard"])
def test_celery_time_limits_fail_the_job_with_their_reason(
    limit: str, store: ModelStore, pg_clean_url: str, tmp_path: Path, example: Placement
) -> None:
    """A job stuck past Celery's soft limit (an exception in the task) or hard limit (the pool child is killed,
    `JobTask.on_failure` records it) fails with that reason; the simulator is killed; the worker goes on."""
    spice = tmp_path / "spice"
    exe = fake_ngspice(spice, "hang")
    limits = {"job_soft_time_limit_s": 3, "job_time_limit_s": 600}
    if limit == "hard":
        limits = {"job_soft_time_limit_s": 600, "job_time_limit_s": 3}
    log = tmp_path / "celery.log"
    with RedisServer(tmp_path / "redis") as broker:
        env = _worker_env(
            pg_clean_url,
            tmp_path,
            exe,
            broker_url=broker.url(),
            worker="celery",
            **{"label_time_limit_s": 600, **limits},
        )
        worker = start_celery_worker(env, log)
        sender = make_celery(broker.url())
        try:
            stuck = store.create_job("label", "ota1", {"placements": placements_json(example, 2, seed=7)})
            sender.send_task("placeq.run_job", args=[stuck.id], task_id=f"{stuck.id}-0")
            done = wait_job(store, stuck.id, DONE, timeout=180)
            assert done.state == JobState.FAILED, (done, log_tail(log))
            assert done.error is not None and f"{limit} time limit of 3 s" in done.error, done.error
            assert done.attempts == 1
            hung = _spice_pids(spice)[-1]
            wait_for(f"the hung ngspice (pid {hung}) to be killed", lambda: not pid_alive(hung), timeout=30)

            (spice / "mode").write_text("ok")
            ok = store.create_job("label", "ota1", {"placements": placements_json(example, 2, seed=8)})
            sender.send_task("placeq.run_job", args=[ok.id], task_id=f"{ok.id}-0")
            after = wait_job(store, ok.id, DONE, timeout=180)
            assert after.state == JobState.SUCCEEDED, (after, log_tail(log))
        finally:
            sender.close()
            kill_group(worker)
