"""Run one job by id: re-read its row, claim it, do the work with heartbeats, record the outcome.

Both the Celery task and the embedded worker call `run_job`. It is idempotent: a job already finished is left
alone, and a fine-tune publishes under the key ``job-<id>``, so a redelivered job (worker killed after publishing,
before acknowledging) finds its version instead of publishing a second one. Exceptions never escape silently:
a job that raises is marked failed with its reason; a process that dies leaves a running row whose heartbeat
goes stale, and the reaper re-queues it (or fails it after `max_attempts`). A redelivered job whose holder is a
dead process on this host (a Celery pool child SIGKILLed, `task_reject_on_worker_lost`) is taken over at once.
Labelling simulates in a child process with a time limit (`Settings.label_time_limit_s`), so a crashed or hung
ngspice fails the job with its reason instead of leaving it running. A label job of more than
`Settings.label_chunk_placements` placements runs as chunk jobs of its own (`service.workers.chunks`): each chunk
is claimed, heartbeated, retried and finished like any job, so a worker killed mid-chunk costs that chunk only.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

from model_store import (
    BASE_DESIGN,
    AliasNotFound,
    Job,
    JobState,
    JobStateError,
    ModelStore,
    ModelVersion,
    publish_model_dir,
)
from model_store.records import now
from placeq.artifact import CHECKPOINT_KEY, WEIGHTS
from placeq.batch import PlacementBatch
from placeq.domain import Circuit
from placeq.errors import InputError, UnknownDesign
from placeq.features import rasterize_batch
from placeq.labels import critical_value, relabel
from service.payloads import (
    FinetunePayload,
    LabelChunkPayload,
    LabelPayload,
    columns_batch_of,
    is_columns,
    label_placements,
)
from service.settings import Settings, get_settings

if TYPE_CHECKING:
    from training.fit import EpochRecord

log = logging.getLogger(__name__)

LABEL_CHUNK = 256
HEARTBEAT_S = 10.0  # default liveness interval; callers pass stale_after / 4


Dispatch = Callable[[Job], None]  # puts a queued job on the broker (Celery); None where the job table is the queue


@dataclass(frozen=True)
class JobContext:
    """Who runs the job, and how it hands work to other workers (`dispatch`, None in the embedded worker)."""

    worker: str
    dispatch: Dispatch | None = None


def worker_name(pid: int | None = None) -> str:
    """How a worker process signs its job claims: host and pid (this process's unless `pid` is given, as the
    embedded supervisor does to re-queue the jobs of a child it saw die)."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


@dataclass(frozen=True)
class Output:
    """A handler's result with output items stored beside it (`ModelStore.finish(parts=...)`), for outputs too
    large for a result row: an explore chunk's placements."""

    result: dict[str, Any]
    parts: Sequence[tuple[int, int, str]] = ()


class JobFailed(Exception):
    """The job cannot succeed (bad data, missing checkpoint...): mark it failed, do not retry."""


def circuit_for(store: ModelStore, design: str) -> Circuit:
    """The job's circuit (model_store's one lookup: registered, else built-in); unknown fails the job."""
    try:
        return store.circuit(design)
    except UnknownDesign as exc:
        raise JobFailed(str(exc)) from None


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
    dispatch: Dispatch | None = None,
) -> Job:
    """Claim and run job `job_id`; returns its final row. Safe to call again for the same id: a finished job is
    returned as it is, and a running one is taken over only when its heartbeat is `stale_after` s old or its
    holder is a dead process of this host. A job whose holders died `job_max_attempts` times fails instead of
    being run again: a job that kills its worker (out of memory, say) must not loop through redeliveries."""
    worker = worker or worker_name()
    settings = settings or get_settings()
    job = peek(store, job_id)
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
            return peek(store, job_id)
    claimed = store.claim_job(job_id, worker=worker, stale_after=stale_after,
                              dead_worker=job.worker if dead else None)
    if claimed is not None and dead:
        log.warning("job %s: its worker %s is dead; taken over (attempt %d)", job_id, job.worker, claimed.attempts)
    if claimed is None:  # someone else holds it and is alive
        return peek(store, job_id)
    beat = stale_after / 4 if stale_after else HEARTBEAT_S
    return execute(store, claimed, worker=worker, beat_every_s=beat, settings=settings, dispatch=dispatch)


def peek(store: ModelStore, job_id: str) -> Job:
    """The job's row without its payload (megabytes for a large label job; only the handler needs it)."""
    return store.get_jobs([job_id], with_payload=False)[0]


def execute(
    store: ModelStore,
    job: Job,
    *,
    worker: str,
    beat_every_s: float = HEARTBEAT_S,
    settings: Settings | None = None,
    dispatch: Dispatch | None = None,
) -> Job:
    """Run a job this worker has claimed; record success or the failure's reason. If the job was taken away
    meanwhile (the reaper re-queued it), stop and return its row as it is."""
    settings = settings or get_settings()
    def progress(fraction: float, message: str = "") -> None:
        store.beat(job.id, progress=min(max(fraction, 0.0), 1.0), message=message, worker=worker)

    stop = threading.Event()

    def beat() -> None:  # liveness between progress reports (an epoch can be long)
        while not stop.wait(beat_every_s):
            try:
                store.beat(job.id, worker=worker)
            except Exception as exc:  # the database may blip; the next beat retries
                log.warning("heartbeat of job %s failed: %s", job.id, exc)

    beater = threading.Thread(target=beat, name=f"heartbeat-{job.id[:8]}", daemon=True)
    beater.start()
    try:
        handler = HANDLERS.get(job.kind)
        if handler is None:
            raise JobFailed(f"unknown job kind {job.kind!r}")
        result = handler(store, job, progress, settings, JobContext(worker, dispatch))
    except JobStateError as exc:  # not ours any more: whoever holds it now records the outcome
        log.warning("job %s was taken from %s: %s", job.id, worker, exc)
        return peek(store, job.id)
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


def _settle(store: ModelStore, job_id: str, worker: str, *, result: dict[str, Any] | Output | None = None,
            reason: str = "") -> Job:
    try:
        if isinstance(result, Output):
            return store.finish(job_id, result.result, worker=worker, parts=result.parts)
        if result is not None:
            return store.finish(job_id, result, worker=worker)
        return store.fail(job_id, reason, worker=worker)
    except JobStateError as exc:
        log.warning("job %s was taken from %s before it was recorded: %s", job_id, worker, exc)
        return peek(store, job_id)


# --- labelling ------------------------------------------------------------------------------------------------


def label_job(
    store: ModelStore, job: Job, progress: Callable[[float, str], None], settings: Settings, ctx: JobContext
) -> dict[str, Any]:
    """Label the job's placements; beyond `label_chunk_placements` of them, as chunks any worker may run."""
    if label_count(job.payload) > settings.label_chunk_placements:  # each chunk validates its own
        from service.workers.chunks import label_plan, run_chunked

        return run_chunked(store, job, progress, settings, ctx, label_plan(job, settings.label_chunk_placements))
    return label(store, job.design, label_job_batch(store, job), progress, settings)


def label_job_batch(store: ModelStore, job: Job) -> PlacementBatch:
    """All placements of a label job, documented or in columns; a damaged row fails the job."""
    try:
        return label_placements(store, job)
    except (InputError, ValidationError) as exc:
        raise JobFailed(f"the placements of job {job.id} cannot be read: {exc}") from exc


def label_count(payload: dict[str, Any]) -> int:
    """Placements of a label job's payload: documented (``placements``) or in columns (``count``)."""
    if is_columns(payload):
        return int(payload.get("count", 0))
    raw = payload.get("placements")
    return len(raw) if isinstance(raw, list) else 0


def read_columns(store: ModelStore, job_id: str, payload: dict[str, Any], start: int, stop: int) -> PlacementBatch:
    """Placements `start`..`stop` - 1 of a columnar label job, from its parts; a damaged row fails the job."""
    try:
        return columns_batch_of(store, job_id, payload, start, stop)
    except (InputError, ValidationError) as exc:
        raise JobFailed(f"the placements of job {job_id} cannot be read: {exc}") from exc


def label_chunk_job(
    store: ModelStore, job: Job, progress: Callable[[float, str], None], settings: Settings, ctx: JobContext
) -> dict[str, Any]:
    """One chunk of a label job: the same labels and result shape, for its slice of the placements."""
    p = LabelChunkPayload.model_validate(job.payload)
    if p.form == "columns":
        parent = store.get_job(p.parent)  # a small row: the numbers are in its parts
        batch = read_columns(store, p.parent, parent.payload, p.start, p.stop)
    else:
        raw = store.payload_items(p.parent, "placements", p.start, p.stop)
        batch = PlacementBatch.from_placements(LabelPayload.model_validate({"placements": raw}).placements)
    return label(store, job.design, batch, progress, settings)


def label(
    store: ModelStore, design: str, batch: PlacementBatch, progress: Callable[[float, str], None], settings: Settings
) -> dict[str, Any]:
    """Simulate `batch` in a killable child: {metric, label_source, values, ok, reasons, failed}."""
    from simulate.isolated import SimulationFailed, SimulationTimeout, label_batch_isolated

    circuit = circuit_for(store, design)
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


def base_version(store: ModelStore, design: str, pinned: int | None, *, to: str = "fine-tune from") -> ModelVersion:
    """The version a job starts from (or scores with): the pinned one, the design's live one, else the base."""
    if pinned is not None:
        return store.get_version(design, pinned)
    try:
        return store.resolve(design, fallback=BASE_DESIGN)
    except AliasNotFound:
        raise JobFailed(f"no live model for {design!r} and no base model to {to}") from None


def finetune_job(
    store: ModelStore, job: Job, progress: Callable[[float, str], None], settings: Settings, ctx: JobContext
) -> dict[str, Any]:
    """Fine-tune through `training.pipeline.finetune_model` (what `placeq finetune` runs), publish the model
    directory through `model_store.publish_model_dir` under the key ``job-<id>``."""
    from training.checkpoint import load_checkpoint
    from training.fit import TrainingTimeout
    from training.pipeline import Options, all_rows, finetune_model

    # The embedded worker has no Celery soft limit: training itself stops at this deadline (Celery's limit,
    # where there is one, is the same number and fires in the same place).
    deadline = time.monotonic() + settings.job_soft_time_limit_s
    p = FinetunePayload.model_validate({k: v for k, v in job.payload.items() if k != "design"})  # older rows
    key = f"job-{job.id}"
    circuit = circuit_for(store, job.design)
    metric = circuit.testbench.metric if circuit.testbench else "offset"
    values = None if p.values is None else np.asarray(p.values, dtype=np.float64)  # the value recipes rank them
    labels, critical = job_labels(p, values, metric)
    n_labels = int((labels >= 0).sum())  # what `GET /designs/{name}/progress` counts per version
    # Idempotency first: a redelivered job whose publish already committed just reports it.
    for v in store.list_versions(job.design):
        if v.idempotency_key == key:
            return {"version": v.version, "design": v.design, "sha256": v.sha256, "labels": n_labels,
                    "redelivered": True}

    base = base_version(store, job.design, p.base_version)
    ckpt_sha = base.onnx_metadata.get(CHECKPOINT_KEY)
    if not ckpt_sha:
        raise JobFailed(f"{base.design} v{base.version} carries no torch checkpoint ({CHECKPOINT_KEY}); "
                        "publish models with `placeq train`/`placeq finetune` to make them fine-tunable")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / WEIGHTS).write_bytes(store.blobs.get(ckpt_sha))
        base_ckpt = load_checkpoint(tmp)
    progress(0.05, f"base {base.design} v{base.version} loaded")

    for pl in p.placements:
        pl.check_against(circuit)
    nofeat = base_ckpt.model.config.input_kind == "nofeat"
    x = rasterize_batch(PlacementBatch.from_placements(p.placements), nofeat=nofeat)
    progress(0.1, "features ready")

    options = Options(epochs=p.epochs, recipe=p.recipe, threads=1)

    def epoch_done(r: EpochRecord) -> None:
        progress(0.1 + 0.7 * r.epoch / p.epochs, f"epoch {r.epoch}/{p.epochs}: loss {r.train_loss:.4f}")

    provenance = {"job": job.id, "parent": f"{base.design} v{base.version}", "critical_value": critical}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            out, fitted = finetune_model(base_ckpt, x, labels, all_rows(len(labels)), Path(tmp) / "model",
                                         design=job.design, options=options, provenance=provenance,
                                         on_epoch=epoch_done, deadline=deadline, values=values,
                                         metric=metric)
        except TrainingTimeout as exc:
            raise JobFailed(f"ran past the time limit of {settings.job_soft_time_limit_s:g} s ({exc})") from exc
        except InputError as exc:
            raise JobFailed(str(exc)) from exc
        # Issue 14 part 4: the threshold calibrated for this design from the job's labels (training.calibration);
        # publish_model_dir publishes the directory with it and records how in the version's metrics.
        from training.calibration import DEFAULT_RULE, calibrate_model_dir

        progress(0.75, f"fine-tuned and exported; calibrating the threshold ({DEFAULT_RULE} rule)")
        cal = calibrate_model_dir(out, DEFAULT_RULE, circuit=circuit, x_labelled=x, labels=labels,
                                  previous=fitted.threshold, nofeat=nofeat)
        progress(0.8, "fine-tuned and exported; publishing")
        version = publish_model_dir(store, out, design=job.design, created_by=f"job:{job.id}", parent=base.ref,
                                    idempotency_key=key, activate=p.activate,
                                    reason=f"fine-tune job ({fitted.recipe} recipe)")
    progress(1.0, f"published {version.design} v{version.version}")
    return {"version": version.version, "design": version.design, "sha256": version.sha256,
            "parent": {"design": base.design, "version": base.version}, "activated": p.activate,
            "recipe": fitted.recipe, "threshold": cal.threshold, "threshold_calibration": cal.record(),
            "labels": n_labels}


def job_labels(p: FinetunePayload, values: np.ndarray | None, metric: str) -> tuple[np.ndarray, float | None]:
    """(labels, critical value): 0/1 labels as given, or the payload's `values` relabelled by their own worst-25%
    border (paper IV-D: the sample's own critical value)."""
    if values is None:
        return np.asarray(p.labels, dtype=np.int64), None
    critical = critical_value(values, metric)
    return relabel(values, critical, metric).astype(np.int64), critical


# --- exploring (service.workers.explore imports this module, so its handlers are looked up when called) --------


def explore_job(
    store: ModelStore, job: Job, progress: Callable[[float, str], None], settings: Settings, ctx: JobContext
) -> dict[str, Any]:
    from service.workers import explore

    return explore.explore_job(store, job, progress, settings, ctx)


def explore_chunk_job(
    store: ModelStore, job: Job, progress: Callable[[float, str], None], settings: Settings, ctx: JobContext
) -> Output:
    from service.workers import explore

    return explore.explore_chunk_job(store, job, progress, settings, ctx)


Handler = Callable[[ModelStore, Job, Callable[[float, str], None], Settings, JobContext], dict[str, Any] | Output]
HANDLERS: dict[str, Handler] = {
    "label": label_job,
    "label_chunk": label_chunk_job,
    "finetune": finetune_job,
    "explore": explore_job,
    "explore_chunk": explore_chunk_job,
}

__all__ = ["Dispatch", "JobContext", "JobFailed", "JobState", "run_job", "worker_name"]
