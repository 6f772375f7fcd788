"""Run one job by id: re-read its row, claim it, do the work with heartbeats, record the outcome.

Both the Celery task and the embedded worker call `run_job`. It is idempotent: a job already finished is left
alone, and a fine-tune publishes under the key ``job-<id>``, so a redelivered job (worker killed after publishing,
before acknowledging) finds its version instead of publishing a second one. Exceptions never escape silently:
a job that raises is marked failed with its reason; a process that dies leaves a running row whose heartbeat
goes stale, and the reaper re-queues it (or fails it after `max_attempts`). A redelivered job whose holder is a
dead process on this host (a Celery pool child SIGKILLed, `task_reject_on_worker_lost`) is taken over at once.
Labelling simulates in a child process with a time limit (`Settings.label_time_limit_s`), so a crashed or hung
ngspice fails the job with its reason instead of leaving it running.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from model_store import BASE_DESIGN, AliasNotFound, Job, JobState, JobStateError, ModelStore, ModelVersion
from model_store.records import now
from placeq.batch import PlacementBatch
from placeq.domain import Circuit, Placement
from service.settings import Settings, get_settings
from training.checkpoint import CHECKPOINT_KEY

log = logging.getLogger(__name__)

LABEL_CHUNK = 256
HEARTBEAT_S = 10.0  # default liveness interval; callers pass stale_after / 4


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobFailed(Exception):
    """The job cannot succeed (bad data, missing checkpoint...): mark it failed, do not retry."""


def circuit_for(store: ModelStore, design: str) -> Circuit:
    from placeq.circuits import BUILTIN_DESIGNS, load_design

    try:
        return store.get_design(design)
    except LookupError:
        if design in BUILTIN_DESIGNS:
            return load_design(design)
        raise JobFailed(f"design {design!r} is not registered") from None


def holder_is_dead(job: Job) -> bool:
    """True when the job's worker is a process of this host that no longer exists (its claim is void)."""
    host, _, pid = (job.worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def run_job(
    store: ModelStore,
    job_id: str,
    *,
    worker: str | None = None,
    stale_after: float | None = None,
    settings: Settings | None = None,
) -> Job:
    """Claim and run job `job_id`; returns its final row. Safe to call again for the same id: a finished job is
    returned as it is, and a running one is taken over only when its heartbeat is `stale_after` s old or its
    holder is a dead process of this host. A job whose holders died `job_max_attempts` times fails instead of
    being run again: a job that kills its worker (out of memory, say) must not loop through redeliveries."""
    worker = worker or worker_name()
    settings = settings or get_settings()
    job = store.get_job(job_id)
    if job.state.terminal:
        return job
    dead = job.state == JobState.RUNNING and holder_is_dead(job)
    stale = (job.state == JobState.RUNNING and stale_after is not None and job.heartbeat_at is not None
             and job.heartbeat_at < now() - timedelta(seconds=stale_after))
    if (dead or stale) and job.attempts >= settings.job_max_attempts:
        why = "died" if dead else f"sent no heartbeat for {stale_after:g} s"
        try:
            return store.fail(job_id, f"worker {job.worker} {why}; gave up after {job.attempts} attempts",
                              worker=job.worker)
        except JobStateError:  # someone else moved it meanwhile
            return store.get_job(job_id)
    claimed = store.claim_job(job_id, worker=worker, stale_after=stale_after,
                              dead_worker=job.worker if dead else None)
    if claimed is not None and dead:
        log.warning("job %s: its worker %s is dead; taken over (attempt %d)", job_id, job.worker, claimed.attempts)
    if claimed is None:  # someone else holds it and is alive
        return store.get_job(job_id)
    beat = stale_after / 4 if stale_after else HEARTBEAT_S
    return execute(store, claimed, worker=worker, beat_every_s=beat, settings=settings)


def execute(
    store: ModelStore, job: Job, *, worker: str, beat_every_s: float = HEARTBEAT_S, settings: Settings | None = None
) -> Job:
    """Run a job this worker has claimed; record success or the failure's reason. If the job was taken away
    meanwhile (the reaper re-queued it), stop and return its row as it is."""
    settings = settings or get_settings()
    def progress(fraction: float, message: str = "") -> None:
        store.heartbeat(job.id, progress=min(max(fraction, 0.0), 1.0), message=message, worker=worker)

    stop = threading.Event()

    def beat() -> None:  # liveness between progress reports (an epoch can be long)
        while not stop.wait(beat_every_s):
            try:
                store.heartbeat(job.id, worker=worker)
            except Exception as exc:  # the database may blip; the next beat retries
                log.warning("heartbeat of job %s failed: %s", job.id, exc)

    beater = threading.Thread(target=beat, name=f"heartbeat-{job.id[:8]}", daemon=True)
    beater.start()
    try:
        handler = HANDLERS.get(job.kind)
        if handler is None:
            raise JobFailed(f"unknown job kind {job.kind!r}")
        result = handler(store, job, progress, settings)
    except JobStateError as exc:  # not ours any more: whoever holds it now records the outcome
        log.warning("job %s was taken from %s: %s", job.id, worker, exc)
        return store.get_job(job.id)
    except Exception as exc:  # record every failure with its reason; the row is never left running
        reason = _reason(exc, settings)
        log.error("job %s failed: %s\n%s", job.id, reason, traceback.format_exc())
        return _settle(store, job.id, worker, reason=reason)
    finally:
        stop.set()
        beater.join()
    return _settle(store, job.id, worker, result=result)


def _reason(exc: Exception, settings: Settings) -> str:
    if isinstance(exc, JobFailed):
        return str(exc)
    if type(exc).__name__ == "SoftTimeLimitExceeded":  # Celery's (billiard's); the embedded mode has no Celery
        return f"ran past the soft time limit of {settings.job_soft_time_limit_s:g} s"
    return f"{type(exc).__name__}: {exc}"


def _settle(store: ModelStore, job_id: str, worker: str, *, result: dict[str, Any] | None = None,
            reason: str = "") -> Job:
    try:
        if result is not None:
            return store.finish(job_id, result, worker=worker)
        return store.fail(job_id, reason, worker=worker)
    except JobStateError as exc:
        log.warning("job %s was taken from %s before it was recorded: %s", job_id, worker, exc)
        return store.get_job(job_id)


# --- labelling ------------------------------------------------------------------------------------------------


def label_job(
    store: ModelStore, job: Job, progress: Callable[[float, str], None], settings: Settings
) -> dict[str, Any]:
    from training.simulate.isolated import SimulationFailed, SimulationTimeout, label_batch_isolated

    circuit = circuit_for(store, job.design)
    placements = [Placement.model_validate(p) for p in job.payload["placements"]]
    batch = PlacementBatch.from_placements(placements)
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        progress(done / len(batch), f"{done}/{len(batch)} simulated")

    try:
        table = label_batch_isolated(circuit, batch, time_limit_s=settings.label_time_limit_s, progress=tick,
                                     chunk_size=LABEL_CHUNK, backend=settings.label_backend)
    except (SimulationTimeout, SimulationFailed) as exc:
        raise JobFailed(str(exc)) from exc
    return {
        "metric": table.metric,
        "label_source": table.label_source,
        "values": [None if not np.isfinite(v) else float(v) for v in table.value],
        "ok": table.ok.tolist(),
        "reasons": list(table.reason),
        "failed": int((~table.ok).sum()),
    }


# --- fine-tuning ----------------------------------------------------------------------------------------------


def base_version(store: ModelStore, design: str, pinned: int | None) -> ModelVersion:
    if pinned is not None:
        return store.get_version(design, pinned)
    try:
        return store.resolve(design, fallback=BASE_DESIGN)
    except AliasNotFound:
        raise JobFailed(f"no live model for {design!r} and no base model to fine-tune from") from None


def finetune_job(
    store: ModelStore, job: Job, progress: Callable[[float, str], None], settings: Settings
) -> dict[str, Any]:
    import torch

    from placeq.features import rasterize_batch
    from training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from training.export import export_onnx
    from training.fit import EpochRecord, TrainingTimeout, fine_tune, finetune_recipe

    # The embedded worker has no Celery soft limit: training itself stops at this deadline (Celery's limit,
    # where there is one, is the same number and fires in the same place).
    deadline = time.monotonic() + settings.job_soft_time_limit_s
    p = job.payload
    key = f"job-{job.id}"
    circuit = circuit_for(store, job.design)
    # Idempotency first: a redelivered job whose publish already committed just reports it.
    for v in store.list_versions(job.design):
        if v.idempotency_key == key:
            return {"version": v.version, "design": v.design, "sha256": v.sha256, "redelivered": True}

    base = base_version(store, job.design, p.get("base_version"))
    ckpt_sha = base.onnx_metadata.get(CHECKPOINT_KEY)
    if not ckpt_sha:
        raise JobFailed(f"{base.design} v{base.version} carries no torch checkpoint ({CHECKPOINT_KEY}); "
                        "publish models with `placeq train`/`placeq finetune` to make them fine-tunable")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "model.pt").write_bytes(store.blobs.get(ckpt_sha))
        base_ckpt = load_checkpoint(tmp)
    progress(0.05, f"base {base.design} v{base.version} loaded")

    placements = [Placement.model_validate(x) for x in p["placements"]]
    for pl in placements:
        pl.check_against(circuit)
    if p.get("values") is not None:
        from placeq.labels import critical_value, relabel

        values = np.asarray(p["values"], dtype=np.float64)
        metric = circuit.testbench.metric if circuit.testbench else "offset"
        critical = critical_value(values, metric)  # paper IV-D: the sample's own 25% critical value
        labels = relabel(values, critical, metric)
    else:
        labels, critical = np.asarray(p["labels"], dtype=np.int64), None
    if labels.min() == labels.max():
        raise JobFailed("all layouts carry the same label; fine-tuning needs both good and bad examples")
    nofeat = base_ckpt.model.config.input_kind == "nofeat"
    x = rasterize_batch(PlacementBatch.from_placements(placements), nofeat=nofeat)
    progress(0.1, "features ready")

    recipe, recipe_cfg = finetune_recipe(len(labels), p.get("recipe", "auto"))
    cfg = recipe_cfg.model_copy(update={"epochs": int(p.get("epochs", 30)), "threads": 1})
    torch.manual_seed(0)

    def epoch_done(r: EpochRecord) -> None:
        progress(0.1 + 0.7 * r.epoch / cfg.epochs, f"epoch {r.epoch}/{cfg.epochs}: loss {r.train_loss:.4f}")

    try:
        model, fit_result = fine_tune(base_ckpt.model, (x, labels), None, cfg, on_epoch=epoch_done, deadline=deadline)
    except TrainingTimeout as exc:
        raise JobFailed(f"ran past the time limit of {settings.job_soft_time_limit_s:g} s ({exc})") from exc
    progress(0.8, "fine-tuned; exporting")

    ckpt = Checkpoint(model=model, threshold=base_ckpt.threshold, design=job.design,
                      metrics={k: float(v) for k, v in fit_result.metrics.items()},
                      extra={"job": job.id, "parent": f"{base.design} v{base.version}", "critical_value": critical,
                             "recipe": recipe})
    with tempfile.TemporaryDirectory() as tmp:
        save_checkpoint(tmp, ckpt)
        ckpt_ref = store.blobs.put((Path(tmp) / "model.pt").read_bytes())
        report = export_onnx(model, Path(tmp) / "model.onnx", sample=x[: min(len(x), 16)],
                             threshold=ckpt.threshold, design=job.design,
                             extra_metadata={CHECKPOINT_KEY: ckpt_ref.sha256})
        onnx_bytes = report.path.read_bytes()
    version = store.publish(
        job.design, onnx_bytes, created_by=f"job:{job.id}",
        metrics={**ckpt.metrics, "train_size": len(labels), "lr": cfg.lr}, threshold=ckpt.threshold,
        parent=base.ref, idempotency_key=key, activate=bool(p.get("activate")),
        reason=f"fine-tune job ({recipe} recipe)",
    )
    progress(1.0, f"published {version.design} v{version.version}")
    return {"version": version.version, "design": version.design, "sha256": version.sha256,
            "parent": {"design": base.design, "version": base.version}, "activated": bool(p.get("activate")),
            "recipe": recipe}


Handler = Callable[[ModelStore, Job, Callable[[float, str], None], Settings], dict[str, Any]]
HANDLERS: dict[str, Handler] = {
    "label": label_job,
    "finetune": finetune_job,
}

__all__ = ["JobFailed", "JobState", "run_job", "worker_name"]
