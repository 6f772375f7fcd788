"""The embedded worker of `placeq serve`: jobs straight from the SQL table, no broker.

kombu's SQLAlchemy transport loses a message whose worker is SIGKILLed (the row stays invisible for ever), so
the embedded mode uses no transport at all: the job row is the queue. A worker claims the oldest queued row in a
transaction, heartbeats while it runs, and the reaper in every worker loop puts rows whose heartbeat went stale
back in the queue (or fails them after `job_max_attempts`), so killing the worker loses nothing.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType

from model_store import ModelStore
from service.settings import Settings
from service.workers.runner import execute, worker_name

log = logging.getLogger(__name__)


class EmbeddedWorker:
    def __init__(self, store: ModelStore, settings: Settings, *, poll_s: float = 0.5) -> None:
        self.store = store
        self.settings = settings
        self.poll_s = poll_s
        self.name = worker_name()
        self.stopping = threading.Event()

    def reap(self) -> None:
        s = self.settings
        for job in self.store.requeue_stale(s.job_stale_after_s, max_attempts=s.job_max_attempts):
            log.warning("job %s had a silent worker: now %s", job.id, job.state.value)

    def run_once(self) -> bool:
        """Reap, then run one queued job if there is one; True if a job ran."""
        self.reap()
        job = self.store.claim_next(worker=self.name)
        if job is None:
            return False
        log.info("running %s job %s (attempt %d)", job.kind, job.id, job.attempts)
        done = execute(self.store, job, worker=self.name, beat_every_s=self.settings.job_stale_after_s / 4,
                       settings=self.settings)
        log.info("job %s %s", job.id, done.state.value)
        return True

    def run_forever(self) -> None:
        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %d: finishing the current job, then stopping", signum)
            self.stopping.set()

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _stop)
            signal.signal(signal.SIGINT, _stop)
        while not self.stopping.is_set():
            try:
                ran = self.run_once()
            except Exception as exc:  # database down: wait and retry, never exit on a blip
                log.error("worker loop: %s", exc)
                ran = False
            if not ran:
                time.sleep(self.poll_s)
