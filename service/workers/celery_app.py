"""Celery application for deployment (Redis broker). Delivery settings follow Celery's guide for long tasks.

- `acks_late` + `task_reject_on_worker_lost`: a worker killed mid-job leaves the message to be redelivered;
- `worker_prefetch_multiplier=1`: a busy worker does not hoard queued jobs;
- the Redis `visibility_timeout` is above the longest job's hard time limit, or Redis would redeliver a job
  that is still running;
- a lost broker connection does not cancel the running job (`worker_cancel_long_running_tasks_on_connection_loss`
  off): the row in SQL is the truth, and a Redis restart must not throw away a half-done fine-tune; the message
  whose ack could not be sent comes back after the visibility timeout and finds the job finished;
- tasks are idempotent (`runner.run_job` re-reads the row and publishes under the job's unique key).
Time limits come from the settings (`PLACEQ_JOB_SOFT_TIME_LIMIT_S`, `PLACEQ_JOB_TIME_LIMIT_S`). A soft limit at or
above the hard one is dropped: Celery's prefork pool arms the hard timer only when the soft one fires, so it
would silently push the hard limit out to the soft one.
"""

from __future__ import annotations

from celery import Celery

from service.settings import Settings, get_settings

# Redis must not redeliver a job before the hard time limit has killed a stuck one.
VISIBILITY_MARGIN_S = 600


def make_celery(broker_url: str | None = None, settings: Settings | None = None) -> Celery:
    s = settings or get_settings()
    url = broker_url or s.broker_url or "redis://127.0.0.1:6379/0"
    app = Celery("placeq", broker=url, include=["service.workers.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=s.job_soft_time_limit_s if s.job_soft_time_limit_s < s.job_time_limit_s else None,
        task_time_limit=s.job_time_limit_s,
        broker_transport_options={"visibility_timeout": int(s.job_time_limit_s + VISIBILITY_MARGIN_S)},
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=False,
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
