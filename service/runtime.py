"""Per-process state of the API: the store, the live ONNX sessions, the alias poller, the job dispatcher.

Every API process runs its own poller: it reads the store's alias revision (one primary-key read) every
`reload_interval_s` and, when it moved (or a live version failed to load last time), loads and warms the new
live versions before swapping them in (`ModelCache.refresh`). If the database goes away, the poller records it
(``/readyz`` answers 503) and the process keeps scoring with the sessions it has.

In Celery mode a job row is committed before its id goes to the broker. If the broker is down then, the job
stays queued in SQL, marked `UNSENT`, and the reaper of any API process sends it once the broker is back: an
accepted job is never lost to a broker outage.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from model_store import BASE_DESIGN, Job, JobState, JobStateError, ModelStore, publish_model_dir, sha256_hex, upgrade
from service.scoring import LiveRef, ModelCache
from service.settings import Settings

log = logging.getLogger(__name__)

SHIPPED_BASE = "base_model"  # service/assets/base_model/: model.onnx + model.pt + model.json from `placeq train`
UNSENT = "not yet on the broker"  # message prefix of a queued job whose id could not be sent
RESEND_BATCH = 100


def shipped_base_model() -> Path | None:
    path = Path(str(resources.files("service") / "assets" / SHIPPED_BASE))
    return path if (path / "model.onnx").is_file() else None


@dataclass
class Health:
    database_ok: bool = True
    database_error: str = ""
    load_errors: list[str] = field(default_factory=list)
    revision: int = -1


class Runtime:
    """What routes need, created once per process by the app's lifespan."""

    def __init__(self, settings: Settings, *, enqueue: Callable[[Job], None] | None = None) -> None:
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        if settings.migrate_on_start:
            upgrade(settings.db_url)
        self.store = ModelStore(settings.db_url, settings.blobs)
        self.cache = ModelCache(self._fetch, threads=settings.ort_threads)
        self.health = Health()
        self.inflight = threading.BoundedSemaphore(settings.max_inflight)
        self._enqueue = enqueue
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        self.ensure_base_model()
        self.poll_once()
        self._poller = threading.Thread(target=self._poll_loop, name="placeq-alias-poller", daemon=True)
        self._poller.start()
        # The process's long-lived objects (imports, sessions) now exist: keep full collections, which the ~10^5
        # objects of a 64-placement body trigger, from walking them each time (3x the CPU of validating such a
        # body; docs/performance.md).
        gc.collect()
        gc.freeze()

    def stop(self) -> None:
        gc.unfreeze()
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
        self.store.close()

    def ensure_base_model(self) -> None:
        """Publish the shipped (or configured) base model once, live on the 'base' pseudo-design, so a fresh
        install predicts out of the box. Idempotent: keyed by the artifact's sha256."""
        path = self.settings.base_model or shipped_base_model()
        if path is None:
            log.warning("no base model shipped or configured; designs without a live model cannot be scored")
            return
        path = Path(path)
        if path.is_dir():  # a model directory: its torch checkpoint goes along, so the base is fine-tunable
            version = publish_model_dir(self.store, path, design=BASE_DESIGN, created_by="placeq:shipped")
        else:
            data = path.read_bytes()
            version = self.store.publish(
                BASE_DESIGN, data, created_by="placeq:shipped", idempotency_key=f"shipped-{sha256_hex(data)[:32]}"
            )
        if BASE_DESIGN not in self.store.aliases():
            self.store.set_alias(BASE_DESIGN, version.version, actor="placeq:shipped", reason="first start")

    # -- models ------------------------------------------------------------------------------------------
    def _fetch(self, design: str, version: int) -> bytes:
        return self.store.load_artifact(design, version)

    def poll_once(self) -> None:
        """Reload live models if the alias revision moved; record database health either way."""
        try:
            revision = self.store.alias_revision()
            if revision != self.health.revision or self.health.load_errors:  # moved, or retry a failed load
                refs = [
                    LiveRef(design=d, version=v.version, sha256=v.sha256, threshold=v.threshold)
                    for d, v in self.store.aliases().items()
                ]
                self.health.load_errors = self.cache.refresh(refs)
                self.health.revision = revision
            self.health.database_ok, self.health.database_error = True, ""
        except Exception as exc:  # database down: keep serving what is loaded
            self.health.database_ok, self.health.database_error = False, f"database: {type(exc).__name__}: {exc}"
            log.warning("alias poll failed, serving loaded models: %s", exc)

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.settings.reload_interval_s):
            self.poll_once()
            if self._enqueue is not None:
                self.reap()

    def reap(self) -> None:
        """Celery mode: jobs whose worker went silent go back to the queue and onto the broker again, and jobs
        that could not be sent (broker down) are sent now."""
        try:
            for job in self.store.requeue_stale(
                self.settings.job_stale_after_s, max_attempts=self.settings.job_max_attempts
            ):
                if job.state == JobState.QUEUED:
                    self.enqueue(job)
            for job in self.store.list_jobs(state=JobState.QUEUED, message_prefix=UNSENT, limit=RESEND_BATCH):
                if not self.enqueue(job):
                    break  # still down: try again at the next poll
                with contextlib.suppress(JobStateError):  # a worker may have claimed it already
                    self.store.note_queued(job.id, "sent to the broker")
        except Exception as exc:
            log.warning("reaper: %s", exc)

    # -- jobs --------------------------------------------------------------------------------------------
    def enqueue(self, job: Job) -> bool:
        """Hand a committed job row to the broker (Celery mode); the embedded worker polls SQL instead.

        Never raises: the job is accepted once its row is committed. When the broker cannot take it, the row is
        marked `UNSENT` for the reaper to send later; returns whether the broker has it now."""
        if self._enqueue is None:
            return True
        try:
            self._enqueue(job)
            return True
        except Exception as exc:
            log.warning("job %s stays queued in SQL until the broker is back: %s", job.id, exc)
            try:
                self.store.note_queued(job.id, f"{UNSENT}: {type(exc).__name__}: {exc}")
            except Exception as note_exc:  # the database is gone too; the job keeps its earlier message
                log.error("job %s could not be marked for a later send: %s", job.id, note_exc)
            return False

    def broker_ok(self) -> bool:
        if self.settings.worker != "celery" or not self.settings.broker_url:
            return True
        import redis

        try:
            with redis.Redis.from_url(self.settings.broker_url, socket_timeout=1) as client:
                return bool(client.ping())
        except Exception:
            return False
