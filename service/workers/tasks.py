"""Celery tasks: thin wrappers that pass a job id to `runner.run_job` (the row in SQL holds everything)."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from billiard.einfo import ExceptionInfo
from billiard.exceptions import TimeLimitExceeded
from celery import Task

from model_store import Job, JobState, JobStateError, ModelStore
from service.settings import get_settings
from service.workers.celery_app import app
from service.workers.chunks import CHUNK_KINDS
from service.workers.runner import run_job, worker_name

log = logging.getLogger(__name__)


@lru_cache
def store() -> ModelStore:
    s = get_settings()
    return ModelStore(s.db_url, s.blobs)


class JobTask(Task):  # type: ignore[misc]
    """Records a hard time limit on the job row: Celery killed the process that would have recorded it."""

    def on_failure(
        self, exc: Exception, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], einfo: ExceptionInfo
    ) -> None:
        if not isinstance(exc, TimeLimitExceeded) or not args:
            return  # the runner records every other failure itself
        s = get_settings()
        reason = f"ran past the hard time limit of {s.job_time_limit_s:g} s; Celery killed its worker process"
        try:  # in the worker's main process: a short-lived store, so no pooled connection is inherited by a fork
            with ModelStore(s.db_url, s.blobs) as st:
                st.fail(str(args[0]), reason)
        except JobStateError:
            pass  # it finished or was re-queued meanwhile
        except Exception as e:  # the reaper still catches it once the heartbeat is stale
            log.warning("could not record the time limit of job %s: %s", args[0], e)


@app.task(  # type: ignore[untyped-decorator]
    name="placeq.run_job", base=JobTask, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=20
)
def run_job_task(self: Task, job_id: str) -> str:
    """Run the job; if another worker holds it with a fresh heartbeat, check back after the stale window."""
    settings = get_settings()
    job = run_job(store(), job_id, worker=worker_name(), stale_after=settings.job_stale_after_s, settings=settings,
                  dispatch=send)
    if job.state == JobState.RUNNING and job.worker != worker_name() and job.kind not in CHUNK_KINDS:
        raise self.retry(countdown=settings.job_stale_after_s)
    return job.state.value  # a chunk another worker runs is its parent's to watch (and take over if it dies)


def send(job: Job) -> None:
    """Put a queued job (a chunk of a label job) on the broker, as the API sends jobs."""
    app.send_task("placeq.run_job", args=[job.id], task_id=f"{job.id}-{job.attempts}")
