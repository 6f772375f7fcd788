"""Celery tasks: thin wrappers that pass a job id to `runner.run_job` (the row in SQL holds everything)."""

from __future__ import annotations

from functools import lru_cache

from celery import Task

from model_store import JobState, ModelStore
from service.settings import get_settings
from service.workers.celery_app import app
from service.workers.runner import run_job, worker_name


@lru_cache
def store() -> ModelStore:
    s = get_settings()
    return ModelStore(s.db_url, s.blobs)


@app.task(  # type: ignore[untyped-decorator]
    name="placeq.run_job", bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=20
)
def run_job_task(self: Task, job_id: str) -> str:
    """Run the job; if another worker holds it with a fresh heartbeat, check back after the stale window."""
    settings = get_settings()
    job = run_job(store(), job_id, worker=worker_name(), stale_after=settings.job_stale_after_s, settings=settings)
    if job.state == JobState.RUNNING and job.worker != worker_name():
        raise self.retry(countdown=settings.job_stale_after_s)
    return job.state.value
