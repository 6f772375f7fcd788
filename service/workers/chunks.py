"""A large job (labelling, exploring) as chunk jobs that every worker runs at once, built on job rows (no Celery
chord).

Why rows and not a Celery group/chord: a chord needs a result backend and a counter that a killed worker can leave
half-updated; here every chunk is an ordinary job row of kind ``label_chunk``, so it is claimed, heartbeated,
taken over from a dead holder, re-queued by the reaper and finished exactly like any job.

- The parent job creates its chunks under the idempotency keys ``<parent>.chunk.<k>`` (unique in SQL), so a
  parent delivered twice finds the chunks of its first delivery instead of making new ones. A chunk row holds
  only its range; the worker reads its slice of the parent's placements (PostgreSQL slices the JSON itself; a
  parent sent in columns keeps its numbers in ``job_parts`` rows and the chunk reads only the parts of its range),
  so splitting costs the parent a few small inserts, not a copy of the placements.
- In Celery mode the parent puts every queued chunk on the broker (idle workers take them from the front) and then
  runs chunks itself from the back; in the embedded worker (no broker) it runs them itself, in order. The parent
  never waits on a chunk nobody runs: whatever is still queued, or held by a dead or silent worker, it claims and
  runs; it waits only for chunks that live workers are running (at most one chunk's time at the end).
- Progress is the sum over chunks (a finished chunk counts whole, a running one by its own progress).
- A chunk whose worker died is retried alone (a Celery redelivery, the reaper, or the parent taking it over);
  its labels are written once, by the `finish` of whoever holds the row. A chunk that fails for a reason of its
  own (ngspice crashed, time limit) fails the parent with that reason, as an unchunked job would fail.
- The parent's result is the chunks' results joined in placement order: the same shape as an unchunked job's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from model_store import Job, JobState, ModelStore
from model_store.records import now
from service.payloads import is_columns
from service.settings import Settings
from service.workers.runner import JobContext, JobFailed, holder_is_dead, label_count, run_job

CHUNK_KIND = "label_chunk"
EXPLORE_CHUNK_KIND = "explore_chunk"
CHUNK_KINDS = frozenset({CHUNK_KIND, EXPLORE_CHUNK_KIND})  # run for a parent, which watches and takes them over
WAIT_S = 0.25  # between looks at chunks that other workers are running


def chunk_key(parent_id: str, index: int) -> str:
    return f"{parent_id}.chunk.{index}"


@dataclass(frozen=True)
class ChunkPlan:
    """How a parent job splits: `count` items in chunks of `size`, each a `kind` job whose payload is
    {parent, index, start, stop} plus `extra`; `join` makes the parent's result of the finished chunks."""

    kind: str
    count: int
    size: int
    join: Callable[[list[Job]], dict[str, Any]]
    verb: str = "done"  # progress: "512/4096 <verb>"
    extra: dict[str, Any] = field(default_factory=dict)


def label_plan(job: Job, size: int) -> ChunkPlan:
    """The chunks of label job `job`; documented chunks keep today's payload, columnar ones say so."""
    form = {"form": "columns"} if is_columns(job.payload) else {}
    return ChunkPlan(CHUNK_KIND, label_count(job.payload), size, join_results, "simulated", form)


def spawn_chunks(store: ModelStore, job: Job, plan: ChunkPlan) -> list[Job]:
    """The chunk jobs of `job` (created now, or found under their keys), in item order."""
    n, size = plan.count, plan.size
    return [
        store.create_job(plan.kind, job.design,
                         {"parent": job.id, "index": k, "start": start, "stop": min(start + size, n), **plan.extra},
                         idempotency_key=chunk_key(job.id, k))
        for k, start in enumerate(range(0, n, size))
    ]


def _free(chunk: Job, stale_after: float) -> bool:
    """Whether this worker may claim `chunk` now: queued, or held by a dead or silent worker."""
    if chunk.state == JobState.QUEUED:
        return True
    if chunk.state != JobState.RUNNING:
        return False
    silent = chunk.heartbeat_at is not None and chunk.heartbeat_at < now() - timedelta(seconds=stale_after)
    return silent or holder_is_dead(chunk)


def run_chunked(
    store: ModelStore, job: Job, progress: Callable[[float, str], None], settings: Settings, ctx: JobContext,
    plan: ChunkPlan,
) -> dict[str, Any]:
    """Run `job` as the chunks of `plan`; returns the joined result."""
    chunks = spawn_chunks(store, job, plan)
    if ctx.dispatch is not None:
        for c in chunks:
            if c.state == JobState.QUEUED:
                ctx.dispatch(c)
    ids = [c.id for c in chunks]
    sizes = [int(c.payload["stop"]) - int(c.payload["start"]) for c in chunks]
    starts = [int(c.payload["start"]) for c in chunks]
    total = sum(sizes)
    while True:
        rows = store.get_jobs(ids, with_payload=False, with_result=False)  # results are read once, by the join
        done = sum(n if r.state == JobState.SUCCEEDED else n * r.progress for r, n in zip(rows, sizes, strict=True))
        finished = sum(r.state == JobState.SUCCEEDED for r in rows)
        progress(done / total, f"{int(done)}/{total} {plan.verb}; {finished}/{len(rows)} chunks done")
        for k, r in enumerate(rows):
            if r.state == JobState.FAILED:
                raise JobFailed(f"chunk {k} (placements {starts[k]}-{starts[k] + sizes[k] - 1}) failed: {r.error}")
        if finished == len(rows):
            return plan.join(store.get_jobs(ids, with_payload=False))
        order = reversed(rows) if ctx.dispatch is not None else iter(rows)  # meet the broker's workers midway
        free = next((r for r in order if _free(r, settings.job_stale_after_s)), None)
        if free is None:
            time.sleep(WAIT_S)
            continue
        run_job(store, free.id, worker=ctx.worker, stale_after=settings.job_stale_after_s, settings=settings)


def join_results(chunks: list[Job]) -> dict[str, Any]:
    """The chunks' results in placement order, shaped as one label job's result."""
    parts = [c.result or {} for c in chunks]
    return {
        "metric": parts[0]["metric"],
        "label_source": parts[0]["label_source"],
        "values": [v for p in parts for v in p["values"]],
        "ok": [v for p in parts for v in p["ok"]],
        "reasons": [v for p in parts for v in p["reasons"]],
        "failed": sum(int(p["failed"]) for p in parts),
    }
