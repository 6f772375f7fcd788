"""Job rows: lifecycle, idempotent creation, exclusive claims, the stale-job reaper and its attempt limit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from model_store import IdempotencyConflict, JobNotFound, JobState, JobStateError, ModelStore
from placeq.errors import InputError


def test_lifecycle(store: ModelStore) -> None:
    job = store.create_job("finetune", "ota1", {"epochs": 3}, idempotency_key="req-1")
    assert (job.state, job.attempts, job.progress, job.result) == (JobState.QUEUED, 0, 0.0, None)
    running = store.claim_job(job.id, worker="w1")
    assert running is not None and running.state == JobState.RUNNING and running.attempts == 1
    assert store.claim_job(job.id, worker="w2") is None  # already taken
    hb = store.heartbeat(job.id, progress=0.5, message="epoch 2/3", worker="w1")
    assert (hb.progress, hb.message) == (0.5, "epoch 2/3")
    done = store.finish(job.id, {"version": 4}, worker="w1")
    assert (done.state, done.result, done.progress) == (JobState.SUCCEEDED, {"version": 4}, 1.0)
    assert done.finished_at is not None and done.started_at is not None
    assert store.finish(job.id, {"version": 5}).result == {"version": 4}  # a second finish changes nothing
    with pytest.raises(JobStateError, match="succeeded; cannot heartbeat"):
        store.heartbeat(job.id, progress=0.9)
    assert store.get_job(job.id) == done


def test_idempotent_create(store: ModelStore) -> None:
    a = store.create_job("label", "ota2", {"n": 100}, idempotency_key="k1")
    b = store.create_job("label", "ota2", {"n": 100}, idempotency_key="k1")
    assert a == b
    with pytest.raises(IdempotencyConflict, match="another request"):
        store.create_job("label", "ota2", {"n": 200}, idempotency_key="k1")
    c = store.create_job("label", "ota2", {"n": 100})  # no key: a new job every time
    assert c.id != a.id
    assert len(store.list_jobs()) == 2


def test_concurrent_creates_with_one_key_make_one_job(store: ModelStore) -> None:
    with ThreadPoolExecutor(4) as pool:
        ids = set(pool.map(lambda _: store.create_job("label", "ota1", {}, idempotency_key="same").id, range(8)))
    assert len(ids) == 1


def test_claim_next_is_fifo_and_exclusive(store: ModelStore) -> None:
    jobs = [store.create_job("label", "ota1", {"i": i}) for i in range(6)]
    first = store.claim_next(worker="w0")
    assert first is not None and first.id == jobs[0].id
    with ThreadPoolExecutor(4) as pool:
        claimed = list(pool.map(lambda i: store.claim_next(worker=f"w{i}"), range(1, 8)))
    got = [j.id for j in claimed if j is not None]
    assert sorted(got) == sorted(j.id for j in jobs[1:])  # each job exactly once
    assert claimed.count(None) == 2
    assert store.claim_next(worker="w9", kinds=("finetune",)) is None


def test_fail_and_lost_claims(store: ModelStore) -> None:
    job = store.create_job("finetune", "ota1", {})
    failed_early = store.fail(store.create_job("label", "ota1", {}).id, "bad payload")  # before any worker
    assert failed_early.state == JobState.FAILED
    store.claim_job(job.id, worker="w1")
    with pytest.raises(JobStateError, match="cannot finish from w2"):
        store.finish(job.id, {}, worker="w2")
    out = store.fail(job.id, "CUDA out of memory", worker="w1")
    assert (out.state, out.error) == (JobState.FAILED, "CUDA out of memory")
    with pytest.raises(JobNotFound):
        store.get_job("nope")
    with pytest.raises(InputError, match="progress"):
        store.heartbeat(job.id, progress=1.5)


def test_requeue_stale_then_fail_after_max_attempts(store: ModelStore) -> None:
    job = store.create_job("finetune", "ota1", {})
    fresh = store.create_job("finetune", "ota2", {})
    store.claim_job(fresh.id, worker="alive")
    for attempt in (1, 2):
        claimed = store.claim_next(worker=f"w{attempt}", kinds=("finetune",))
        assert claimed is not None and claimed.id == job.id and claimed.attempts == attempt
        beat = store.heartbeat(fresh.id, worker="alive").heartbeat_at  # after `job` was claimed
        assert beat is not None
        # the reaper runs 60 s after that heartbeat: `job` has been silent for longer, `fresh` for exactly 60 s
        back = store.requeue_stale(60, max_attempts=2, at=beat + timedelta(seconds=60))
        if attempt == 1:
            assert [(j.id, j.state) for j in back] == [(job.id, JobState.QUEUED)]
            assert "re-queued" in store.get_job(job.id).message
            with pytest.raises(JobStateError):  # the silent worker lost its claim
                store.heartbeat(job.id, worker="w1")
        else:
            assert [(j.id, j.state) for j in back] == [(job.id, JobState.FAILED)]
            assert "gave up after 2 attempts" in (back[0].error or "")
    assert store.get_job(fresh.id).state == JobState.RUNNING  # heartbeating jobs are left alone
    assert store.requeue_stale(3600) == []


def test_requeue_worker_puts_back_only_the_dead_workers_job_at_once(store: ModelStore) -> None:
    """The embedded supervisor saw its child exit: its job goes back now, fresh heartbeat or not; others stay."""
    dead, alive = store.create_job("finetune", "ota1", {}), store.create_job("finetune", "ota2", {})
    store.claim_job(dead.id, worker="host:101")
    store.claim_job(alive.id, worker="host:102")
    back = store.requeue_worker("host:101", max_attempts=2)
    assert [(j.id, j.state) for j in back] == [(dead.id, JobState.QUEUED)]
    assert "worker host:101 exited" in (store.get_job(dead.id).message or "")
    assert store.get_job(alive.id).state == JobState.RUNNING
    store.claim_job(dead.id, worker="host:103")
    (failed,) = store.requeue_worker("host:103", max_attempts=2)
    assert failed.state == JobState.FAILED and "gave up after 2 attempts" in (failed.error or "")
    assert store.requeue_worker("host:999") == []


def test_claim_job_takes_over_a_stale_running_job(store: ModelStore) -> None:
    job = store.create_job("finetune", "ota1", {})
    store.claim_job(job.id, worker="dead")
    assert store.claim_job(job.id, worker="new", stale_after=3600) is None  # still fresh
    took = store.claim_job(job.id, worker="new", stale_after=-1)  # everything counts as stale
    assert took is not None and (took.worker, took.attempts) == ("new", 2)


def test_list_jobs_filters(store: ModelStore) -> None:
    a = store.create_job("label", "ota1", {})
    store.create_job("finetune", "ota2", {})
    store.claim_job(a.id, worker="w")
    assert [j.id for j in store.list_jobs(state=JobState.RUNNING)] == [a.id]
    assert [j.kind for j in store.list_jobs(design="ota2")] == ["finetune"]
    assert len(store.list_jobs(kind="label")) == 1
    with pytest.raises(InputError, match="limit"):
        store.list_jobs(limit=0)


def test_purge_removes_only_old_finished_jobs(store: ModelStore) -> None:
    done = store.create_job("label", "ota1", {})
    store.claim_job(done.id, worker="w")
    finished = store.finish(done.id, {"n": 1}).finished_at
    queued = store.create_job("label", "ota1", {})
    assert finished is not None
    assert store.purge_jobs(finished) == 0  # strictly before
    assert store.purge_jobs(finished + timedelta(seconds=1)) == 1
    assert [j.id for j in store.list_jobs()] == [queued.id]
    with pytest.raises(JobNotFound):  # a purged id asked for with others
        store.get_jobs([queued.id, done.id])
    assert [j.id for j in store.get_jobs([done.id, queued.id], missing_ok=True)] == [queued.id]
    assert store.get_jobs([], missing_ok=True) == []


def test_job_parts_are_read_by_range_and_go_with_their_job(store: ModelStore) -> None:
    """A job's parts: written with its row, read back only where they overlap the range asked, deleted with it."""
    parts = [(0, 3, '{"n": [0, 1, 2]}'), (3, 6, '{"n": [3, 4, 5]}'), (6, 7, '{"n": [6]}')]
    job = store.create_job("label", "ota1", {"count": 7}, parts=parts)
    assert store.job_parts(job.id, 0, 7) == parts
    assert store.job_parts(job.id, 2, 4) == parts[:2]
    assert store.job_parts(job.id, 6, 7) == parts[2:]
    assert store.create_job("label", "ota1", {}, parts=[]).id  # no parts: an ordinary job
    with pytest.raises(JobNotFound):
        store.job_parts("0" * 32, 0, 1)
    with pytest.raises(InputError, match="parts"):
        store.create_job("label", "ota1", {}, parts=[(3, 3, "{}")])
    store.claim_job(job.id, worker="w")
    finished = store.finish(job.id, {"n": 7}).finished_at
    assert finished is not None
    assert store.purge_jobs(finished + timedelta(seconds=1)) == 1
    with pytest.raises(JobNotFound):
        store.job_parts(job.id, 0, 7)  # the parts went with the row (ON DELETE CASCADE)
