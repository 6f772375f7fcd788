"""Job workers: a Celery app (Redis broker, deployment) and an embedded SQL-polling worker (`placeq serve`).

Both run the same `service.workers.runner.run_job(job_id)`: the job row in SQL is the source of truth, the
broker only carries its id, and every step is idempotent, so a redelivered job never publishes twice.
"""
