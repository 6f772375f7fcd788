"""Accepting a job: the row committed in SQL (the source of truth), then enqueued, answered 202 with its URL.

Shared by the job routes (/label, /finetune) and /designs/{name}/explore; routes do not import each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request, Response

from model_store import Job
from service import metrics
from service.api.deps import RuntimeDep
from service.api.errors import BODY_TOO_LARGE, Responses, ServiceUnavailable
from service.api.schemas import JobOut

ACCEPTED: Responses = {
    202: {
        "description": "Job accepted; poll the URL in `Location`",
        "headers": {
            "Location": {"description": "The job's URL", "schema": {"type": "string"}},
            "Retry-After": {"description": "Seconds before the first poll", "schema": {"type": "integer"}},
        },
    },
    404: {"description": "Unknown design"},
    409: {"description": "Idempotency key reused for a different request"},
    422: {"description": "Invalid request: the body names the field"},
    503: {
        "description": "The job queue is full (PLACEQ_MAX_QUEUED_JOBS queued or running): retry after `Retry-After`",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    },
    **BODY_TOO_LARGE,
}
QUEUE_FULL_RETRY_S = 30  # a job takes minutes; sooner retries would only find the queue full again


def job_out(job: Job, request: Request) -> JobOut:
    return JobOut(
        id=job.id, kind=job.kind, design=job.design, state=job.state.value, progress=job.progress,
        attempts=job.attempts, result=job.result, error=job.error, created_at=job.created_at,
        updated_at=job.updated_at, url=str(request.url_for("get_job", job_id=job.id)),
    )


def submit_job(kind: str, design: str, payload: dict[str, Any], key: str | None, runtime: RuntimeDep,
               request: Request, response: Response, parts: Sequence[tuple[int, int, str]] = ()) -> JobOut:
    limit = runtime.settings.max_queued_jobs
    if (waiting := runtime.store.count_jobs()) >= limit:  # a soft bound: concurrent submits may pass it together
        raise ServiceUnavailable(f"job queue full: {waiting} jobs queued or running, the limit is {limit} "
                                 "(PLACEQ_MAX_QUEUED_JOBS); retry later", retry_after=QUEUE_FULL_RETRY_S)
    job = runtime.store.create_job(kind, design, payload, idempotency_key=key, parts=parts)  # committed here
    runtime.enqueue(job)  # after commit: a worker can never see an id whose row does not exist yet
    metrics.JOBS.labels(kind).inc()
    out = job_out(job, request)
    response.headers["Location"] = out.url
    response.headers["Retry-After"] = "2"
    return out
