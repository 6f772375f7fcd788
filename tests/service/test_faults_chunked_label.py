"""Fault: a label job split into chunks (`service.workers.chunks`) with a Celery pool child SIGKILLed in the middle
of a chunk still stores every label exactly once, in placement order, equal to labelling the placements directly.

Real processes throughout: two `celery worker` processes (prefork, one child each) on the machine's Redis, job
rows in PostgreSQL, ngspice for every label. A second's sleep before each `ngspice -b` (the fake's "slow" mode)
makes a chunk long enough to be killed inside; chunks of 8 placements keep the test under a minute.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from service_helpers import (
    fake_ngspice,
    kill_group,
    log_tail,
    placements_json,
    service_env,
    start_celery_worker,
    wait_for,
)

from model_store import Job, JobState, ModelStore, upgrade
from placeq.batch import PlacementBatch
from placeq.circuits import load_design
from placeq.domain import Placement
from service.settings import Settings
from service.workers.celery_app import make_celery
from service.workers.chunks import CHUNK_KIND, chunk_key, label_plan, spawn_chunks
from service.workers.runner import run_job
from simulate.label import label_batch

BROKER = "redis://127.0.0.1:6379/11"  # the machine's Redis; a database of its own for these tests
CHUNK = 8
DONE = {JobState.SUCCEEDED, JobState.FAILED}


def _flush() -> None:
    with redis.Redis.from_url(BROKER) as r:
        r.flushdb()


@pytest.fixture
def store(pg_clean_url: str, tmp_path: Path) -> Iterator[ModelStore]:
    _flush()
    with ModelStore(pg_clean_url, tmp_path / "blobs") as s:
        yield s
    _flush()


def _reference(items: list[dict[str, object]]) -> list[float | None]:
    """The labels of the same placements simulated in one call, no job, no chunks."""
    batch = PlacementBatch.from_placements([Placement.model_validate(p) for p in items])
    table = label_batch(load_design("ota1"), batch, backend="batch")
    return [float(v) if v == v else None for v in table.value]


def _chunks(store: ModelStore, parent: Job, n: int) -> list[Job]:
    rows = store.list_jobs(kind=CHUNK_KIND, limit=1000)
    assert len(rows) == -(-n // CHUNK)  # one row per chunk: none made twice
    by_key = {r.idempotency_key: r for r in rows}
    return [by_key[chunk_key(parent.id, k)] for k in range(len(rows))]


def _assert_labelled_once(store: ModelStore, done: Job, items: list[dict[str, object]]) -> list[Job]:
    assert done.state == JobState.SUCCEEDED, done.error
    assert done.result is not None and done.progress == 1.0
    assert set(done.result) == {"metric", "label_source", "values", "ok", "reasons", "failed"}  # today's shape
    assert len(done.result["values"]) == len(done.result["ok"]) == len(done.result["reasons"]) == len(items)
    assert done.result["values"] == pytest.approx(_reference(items), abs=1e-12)  # in placement order
    chunks = _chunks(store, done, len(items))
    assert all(c.state == JobState.SUCCEEDED for c in chunks)
    assert [c.payload["start"] for c in chunks] == list(range(0, len(items), CHUNK))
    assert sum(len(c.result["values"]) for c in chunks if c.result) == len(items)
    return chunks


def test_embedded_runs_the_chunks_itself_in_order(db_url: str, tmp_path: Path, example: Placement) -> None:
    """No broker (the embedded worker's case, on SQLite as `placeq serve` runs it, and on PostgreSQL): the parent
    runs its chunks one after another; a second delivery of the finished parent changes nothing."""
    upgrade(db_url)
    with ModelStore(db_url, tmp_path / "blobs") as store:
        _embedded(store, tmp_path, example)


def _embedded(store: ModelStore, tmp_path: Path, example: Placement) -> None:
    items = placements_json(example, 3 * CHUNK + 3, seed=11)
    job = store.create_job("label", "ota1", {"placements": items})
    settings = Settings(home=tmp_path / "home", label_chunk_placements=CHUNK, label_backend="batch")
    done = run_job(store, job.id, worker="embedded", settings=settings)
    chunks = _assert_labelled_once(store, done, items)
    assert [c.worker for c in chunks] == ["embedded"] * 4 and all(c.attempts == 1 for c in chunks)
    assert sorted(c.finished_at for c in chunks if c.finished_at) == [c.finished_at for c in chunks]
    again = run_job(store, job.id, worker="embedded", settings=settings)
    assert again.result == done.result and len(store.list_jobs(kind=CHUNK_KIND)) == 4


def test_pool_child_killed_mid_chunk_stores_every_label_once(
    store: ModelStore, pg_clean_url: str, tmp_path: Path, example: Placement
) -> None:
    items = placements_json(example, 6 * CHUNK, seed=12)
    env = service_env(
        database_url=pg_clean_url,
        blob_root=tmp_path / "blobs",
        home=tmp_path / "home",
        broker_url=BROKER,
        worker="celery",
        job_stale_after_s=600,  # no reaper, no stale takeover: the broker's redelivery must bring it back
        label_chunk_placements=CHUNK,
        label_backend="batch",
        ngspice=fake_ngspice(tmp_path / "spice", "slow"),
    )
    logs = [tmp_path / "celery1.log", tmp_path / "celery2.log"]
    workers = [start_celery_worker(env, log) for log in logs]
    sender = make_celery(BROKER)
    try:
        job = store.create_job("label", "ota1", {"placements": items})
        sender.send_task("placeq.run_job", args=[job.id], task_id=f"{job.id}-0")

        def running_chunk() -> Job | None:
            rows = [r for r in store.list_jobs(kind=CHUNK_KIND) if r.state == JobState.RUNNING]
            return rows[0] if rows else None

        victim = wait_for("a chunk running", running_chunk, timeout=120)
        assert victim.worker is not None
        child = int(victim.worker.rpartition(":")[2])
        assert child not in {w.pid for w in workers}  # a pool child, not a worker's main process
        time.sleep(0.5)  # inside its ngspice call
        os.kill(child, signal.SIGKILL)

        seen: list[float] = []

        def finished() -> Job | None:
            row = store.get_job(job.id)
            seen.append(row.progress)
            return row if row.state in DONE else None

        done = wait_for("the label job", finished, timeout=180, every=0.2)
        assert done.state == JobState.SUCCEEDED, (done.error, *(log_tail(log) for log in logs))
        chunks = _assert_labelled_once(store, done, items)
        killed = next(c for c in chunks if c.id == victim.id)
        assert killed.attempts == 2 and killed.worker != victim.worker  # retried alone
        assert all(c.attempts == 1 for c in chunks if c.id != victim.id)
        assert seen == sorted(seen) and any(0 < p < 1 for p in seen)  # progress summed over chunks, never back
        runners = {c.worker for c in chunks}
        assert len(runners) >= 2, runners  # the chunks ran on more than one worker process
        assert all(w.poll() is None for w in workers)  # both workers survived and replaced the killed child
    finally:
        sender.close()
        for w in workers:
            kill_group(w)


def test_a_parent_delivered_again_reruns_only_its_unfinished_chunks(
    store: ModelStore, tmp_path: Path, example: Placement
) -> None:
    """The parent's worker died after chunk 0 was stored and while it held chunk 1: the next delivery takes the
    parent and chunk 1 over (their holder is dead), makes no new chunks and does not label chunk 0 again."""
    items = placements_json(example, 2 * CHUNK, seed=13)
    job = store.create_job("label", "ota1", {"placements": items})
    settings = Settings(home=tmp_path / "home", label_chunk_placements=CHUNK, label_backend="batch")
    dead = _dead_worker_name()
    parent = store.claim_job(job.id, worker=dead)
    assert parent is not None
    first, second = spawn_chunks(store, parent, label_plan(parent, CHUNK))
    stored = run_job(store, first.id, worker=dead, settings=settings)
    assert stored.state == JobState.SUCCEEDED
    assert store.claim_job(second.id, worker=dead) is not None

    done = run_job(store, job.id, worker="redelivery", stale_after=600, settings=settings)
    chunks = _assert_labelled_once(store, done, items)
    assert (done.attempts, chunks[0].attempts, chunks[1].attempts) == (2, 1, 2)
    assert (chunks[0].worker, chunks[1].worker) == (dead, "redelivery")
    assert chunks[0].finished_at == stored.finished_at and chunks[0].result == stored.result  # not run again


def _dead_worker_name() -> str:
    """`host:pid` of a process of this host that has exited (as a SIGKILLed pool child leaves it in the row)."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    return f"{socket.gethostname()}:{gone.pid}"
