"""Celery application for deployment (Redis broker). Delivery settings follow Celery's guide for long tasks.

- `acks_late` + `task_reject_on_worker_lost`: a worker killed mid-job leaves the message to be redelivered;
- `worker_prefetch_multiplier=1`: a busy worker does not hoard queued jobs;
- the Redis `visibility_timeout` is above the longest job's hard time limit, or Redis would redeliver a job
  that is still running;
- tasks are idempotent (`runner.run_job` re-reads the row and publishes under the job's unique key).
"""

from __future__ import annotations

from celery import Celery

from service.settings import get_settings

# Longest job: a fine-tune on the CPU. Redis must not redeliver before the hard limit kills a stuck one.
JOB_SOFT_LIMIT_S = 1800
JOB_HARD_LIMIT_S = 2100
VISIBILITY_TIMEOUT_S = JOB_HARD_LIMIT_S + 600


def make_celery(broker_url: str | None = None) -> Celery:
    url = broker_url or get_settings().broker_url or "redis://127.0.0.1:6379/0"
    app = Celery("placeq", broker=url, include=["service.workers.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=JOB_SOFT_LIMIT_S,
        task_time_limit=JOB_HARD_LIMIT_S,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,  # results live in the job row, not in a result backend
        task_serializer="json",
        accept_content=["json"],
        task_create_missing_queues=False,
        task_default_queue="placeq",
        task_queues=None,
        worker_hijack_root_logger=False,
    )
    return app


app = make_celery()
