"""Label and fine-tune jobs as SQL rows: the source of truth (a broker message only carries the job id).

States: queued -> running -> succeeded | failed; a running job whose worker stops heartbeating goes back to
queued (`requeue_stale`, the reaper) until it has been delivered `max_attempts` times, then fails. `attempts`
counts deliveries: each claim adds one. Claims are conditional UPDATEs (and ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL when picking the next job), so two workers never both own a job. A worker passes its name to
`heartbeat`/`finish`/`fail`; if the reaper took the job away meanwhile, it gets `JobStateError` and should stop.
Idempotency keys are unique: creating a job twice with one key returns the first job (and a different request
under the same key is refused, as the Azure long-running-operation guidelines ask).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from model_store._rows import _Part, check_design, check_json, check_key, job_record
from model_store.errors import IdempotencyConflict, InvalidName, JobNotFound, JobStateError
from model_store.orm import JobPartRow, JobRow
from model_store.records import Job, JobState, now
from placeq.errors import InputError

DEFAULT_MAX_ATTEMPTS = 3
MAX_LIST = 1000
_SLICE = text("SELECT jsonb_path_query_array(payload::jsonb, CAST(:path AS jsonpath)) FROM jobs WHERE id = :id")


def _row(s: Session, job_id: str, *, light: bool = False) -> JobRow:
    """The job's row; `light` leaves the payload unread (megabytes for a large label job)."""
    row = s.get(JobRow, job_id, options=[defer(JobRow.payload)] if light else None)
    if row is None:
        raise JobNotFound(job_id)
    return row


def _owned(row: JobRow, worker: str | None, wanted: str) -> None:
    if row.state != JobState.RUNNING:
        raise JobStateError(row.id, row.state, wanted)
    if worker is not None and row.worker != worker:
        raise JobStateError(row.id, f"running on {row.worker} (attempt {row.attempts})", f"{wanted} from {worker}")


class Jobs(_Part):
    def create_job(
        self,
        kind: str,
        design: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        parts: Sequence[tuple[int, int, str]] = (),
    ) -> Job:
        """A queued job, or the existing one created under the same `idempotency_key`.

        `parts` are (start, stop, JSON text) slices of a large input, stored beside the row in the same transaction
        (a worker never sees the job without them) and read back by range with `job_parts`. The idempotency check
        compares payloads only, so a caller storing parts puts a digest of them in the payload.
        """
        if not kind.isidentifier() or len(kind) > 32:
            raise InvalidName("kind", f"{kind!r} is not a job kind (a short identifier such as 'finetune')")
        check_design(design)
        body = check_json(payload, "payload")
        if idempotency_key is not None:
            check_key(idempotency_key)
        for start, stop, _ in parts:
            if not 0 <= start < stop:
                raise InputError("parts", f"[{start}, {stop}) is not a range of items")
        ts = now()
        row = JobRow(
            id=uuid.uuid4().hex,
            kind=kind,
            design=design,
            state=JobState.QUEUED.value,
            progress=0.0,
            message="",
            payload=body,
            idempotency_key=idempotency_key,
            attempts=0,
            created_at=ts,
            updated_at=ts,
        )
        try:
            with self.db.session() as s:
                s.add(row)
                s.flush()
                s.add_all(JobPartRow(job_id=row.id, start=a, stop=b, body=text) for a, b, text in parts)
                s.flush()
                return job_record(row)
        except IntegrityError:
            if idempotency_key is None:
                raise
        with self.db.session() as s:
            found = s.scalar(select(JobRow).where(JobRow.idempotency_key == idempotency_key))
            if found is None:  # pragma: no cover - the conflicting row vanished (jobs are never deleted)
                raise JobNotFound(idempotency_key)
            if (found.kind, found.design, found.payload) != (kind, design, body):
                raise IdempotencyConflict(idempotency_key, f"already names job {found.id} with another request")
            return job_record(found)

    def get_job(self, job_id: str) -> Job:
        with self.db.session() as s:
            return job_record(_row(s, job_id))

    def get_jobs(self, job_ids: list[str], *, with_payload: bool = True, with_result: bool = True,
                 missing_ok: bool = False) -> list[Job]:
        """The jobs `job_ids` in that order, read in one query (a chunked job watching its chunks); their payloads
        left out (`{}`) unless `with_payload`, their results (None) unless `with_result`. A missing id raises
        JobNotFound, or with `missing_ok` is left out (a purged job)."""
        q = select(JobRow).where(JobRow.id.in_(job_ids))
        if not with_payload:
            q = q.options(defer(JobRow.payload))
        if not with_result:
            q = q.options(defer(JobRow.result))
        with self.db.session() as s:
            rows = {r.id: r for r in s.scalars(q).all()}
            missing = [i for i in job_ids if i not in rows]
            if missing and not missing_ok:
                raise JobNotFound(missing[0])
            return [job_record(rows[i], with_payload=with_payload, with_result=with_result) for i in job_ids
                    if i in rows]

    def payload_items(self, job_id: str, key: str, start: int, stop: int) -> list[Any]:
        """``payload[key][start:stop]`` of job `job_id`. PostgreSQL slices it itself (jsonpath), so a worker running
        one chunk of a large label job reads its chunk, not the whole payload; SQLite's slice is taken here."""
        if not key.isidentifier() or not 0 <= start <= stop:
            raise InputError("key", f"{key!r}[{start}:{stop}] is not a slice of a payload list")
        with self.db.session() as s:
            if s.get_bind().dialect.name == "postgresql":
                if stop == start:
                    _row(s, job_id, light=True)
                    return []
                found = s.execute(_SLICE, {"path": f"$.{key}[{start} to {stop - 1}]", "id": job_id}).first()
                if found is None:
                    raise JobNotFound(job_id)
                return list(found[0])
            return list(_row(s, job_id).payload.get(key, [])[start:stop])

    def job_parts(self, job_id: str, start: int, stop: int) -> list[tuple[int, int, str]]:
        """The parts of job `job_id` that hold any of its items `start` to `stop` - 1: (start, stop, JSON text), in
        order (only those rows are read: a chunk of a large job reads its own slice)."""
        q = (
            select(JobPartRow.start, JobPartRow.stop, JobPartRow.body)
            .where(JobPartRow.job_id == job_id, JobPartRow.stop > start, JobPartRow.start < stop)
            .order_by(JobPartRow.start)
        )
        with self.db.session() as s:
            found = [(int(a), int(b), str(t)) for a, b, t in s.execute(q).all()]
            if not found:
                _row(s, job_id, light=True)  # JobNotFound for an unknown job
        return found

    def list_jobs(
        self,
        *,
        state: JobState | None = None,
        design: str | None = None,
        kind: str | None = None,
        message_prefix: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Newest first."""
        if not 1 <= limit <= MAX_LIST:
            raise InputError("limit", f"{limit} is not in [1, {MAX_LIST}]")
        q = select(JobRow)
        if state is not None:
            q = q.where(JobRow.state == JobState(state).value)
        if design is not None:
            q = q.where(JobRow.design == design)
        if kind is not None:
            q = q.where(JobRow.kind == kind)
        if message_prefix is not None:
            q = q.where(JobRow.message.startswith(message_prefix, autoescape=True))
        with self.db.session() as s:
            rows = s.scalars(q.order_by(JobRow.created_at.desc(), JobRow.id).limit(limit)).all()
        return [job_record(r) for r in rows]

    def count_jobs(self, states: tuple[JobState, ...] = (JobState.QUEUED, JobState.RUNNING)) -> int:
        """How many jobs are in `states` (default: waiting or running), counted in SQL on the state index."""
        q = select(func.count()).select_from(JobRow).where(JobRow.state.in_([JobState(st).value for st in states]))
        with self.db.session() as s:
            return int(s.scalar(q) or 0)

    def _claim(self, s: Session, row: JobRow, worker: str, ts: datetime) -> Job:
        row.state, row.worker, row.attempts = JobState.RUNNING.value, worker, row.attempts + 1
        row.started_at = row.heartbeat_at = row.updated_at = ts
        row.error = None
        s.flush()
        return job_record(row)

    def claim_job(
        self, job_id: str, *, worker: str, stale_after: float | None = None, dead_worker: str | None = None
    ) -> Job | None:
        """Take `job_id` if it is queued, or running with no heartbeat for `stale_after` s, or running on
        `dead_worker` (a process the caller knows is gone); None if not free."""
        ts = now()
        free = JobRow.state == JobState.QUEUED.value
        if stale_after is not None:
            cutoff = ts - timedelta(seconds=stale_after)
            free = free | ((JobRow.state == JobState.RUNNING.value) & (JobRow.heartbeat_at < cutoff))
        if dead_worker is not None:
            free = free | ((JobRow.state == JobState.RUNNING.value) & (JobRow.worker == dead_worker))
        with self.db.session() as s:
            _row(s, job_id, light=True)
            row = s.scalar(select(JobRow).where(JobRow.id == job_id, free).with_for_update())
            return self._claim(s, row, worker, ts) if row is not None else None

    def claim_next(self, *, worker: str, kinds: tuple[str, ...] | None = None) -> Job | None:
        """The oldest queued job (of `kinds`), now running on `worker`; None when the queue is empty."""
        q = select(JobRow).where(JobRow.state == JobState.QUEUED.value)
        if kinds is not None:
            q = q.where(JobRow.kind.in_(kinds))
        with self.db.session() as s:
            row = s.scalar(q.order_by(JobRow.created_at, JobRow.id).limit(1).with_for_update(skip_locked=True))
            return self._claim(s, row, worker, now()) if row is not None else None

    def note_queued(self, job_id: str, message: str) -> Job:
        """Set the message of a queued job (why it still waits); `JobStateError` once a worker has it."""
        with self.db.session() as s:
            row = _row(s, job_id)
            if row.state != JobState.QUEUED:
                raise JobStateError(row.id, row.state, "note a queued job's message")
            row.message, row.updated_at = message, now()
            return job_record(row)

    def heartbeat(
        self, job_id: str, *, progress: float | None = None, message: str | None = None, worker: str | None = None
    ) -> Job:
        """Record liveness (and progress in [0, 1]); `JobStateError` if the job is no longer this worker's."""
        with self.db.session() as s:
            row = _row(s, job_id)
            _stamp(row, worker, progress, message)
            return job_record(row)

    def beat(
        self, job_id: str, *, progress: float | None = None, message: str | None = None, worker: str | None = None
    ) -> None:
        """`heartbeat` without reading the job back: a running worker's liveness and progress, at the cost of a
        few columns whatever the size of its payload."""
        with self.db.session() as s:
            row = s.get(JobRow, job_id, options=[defer(JobRow.payload), defer(JobRow.result)])
            if row is None:
                raise JobNotFound(job_id)
            _stamp(row, worker, progress, message)

    def finish(self, job_id: str, result: dict[str, Any], *, worker: str | None = None,
               parts: Sequence[tuple[int, int, str]] = ()) -> Job:
        """running -> succeeded with `result`; finishing an already succeeded job returns it unchanged.

        `parts` are (start, stop, JSON text) items of the job's output too large for its result row (an explore
        chunk's placements), stored in the same transaction, so they exist exactly when the job has succeeded;
        read them back with `job_parts`."""
        body = check_json(result, "result")
        for start, stop, _ in parts:
            if not 0 <= start < stop:
                raise InputError("parts", f"[{start}, {stop}) is not a range of items")
        with self.db.session() as s:
            row = _row(s, job_id)
            if row.state == JobState.SUCCEEDED:
                return job_record(row)
            _owned(row, worker, "finish")
            ts = now()
            row.state, row.result, row.progress = JobState.SUCCEEDED.value, body, 1.0
            row.finished_at = row.updated_at = ts
            s.add_all(JobPartRow(job_id=row.id, start=a, stop=b, body=text) for a, b, text in parts)
            s.flush()
            return job_record(row)

    def fail(self, job_id: str, error: str, *, worker: str | None = None) -> Job:
        """queued|running -> failed with `error` (a person-readable reason); a failed job stays as it is."""
        with self.db.session() as s:
            row = _row(s, job_id)
            if row.state == JobState.FAILED:
                return job_record(row)
            if row.state != JobState.QUEUED:
                _owned(row, worker, "fail")
            ts = now()
            row.state, row.error = JobState.FAILED.value, error
            row.finished_at = row.updated_at = ts
            return job_record(row)

    def requeue_stale(
        self, older_than: float, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS, at: datetime | None = None
    ) -> list[Job]:
        """The reaper: running jobs silent for `older_than` s go back to queued, or fail after `max_attempts`
        deliveries. Returns the jobs it changed (state tells which); re-enqueue the queued ones on the broker."""
        ts = at or now()
        cutoff = ts - timedelta(seconds=older_than)
        return self._requeue(
            (JobRow.heartbeat_at < cutoff), f"sent no heartbeat for {older_than:g} s", max_attempts, ts
        )

    def requeue_worker(self, worker: str, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> list[Job]:
        """Running jobs of `worker`, a process the caller knows is dead (the embedded supervisor saw its child
        exit), go back to queued at once, or fail after `max_attempts`: no wait for the heartbeat to go stale."""
        return self._requeue((JobRow.worker == worker), "exited", max_attempts, now())

    def _requeue(self, which: ColumnElement[bool], why: str, max_attempts: int, ts: datetime) -> list[Job]:
        if max_attempts < 1:
            raise InputError("max_attempts", "must be >= 1")
        with self.db.session() as s:
            rows = s.scalars(
                select(JobRow)
                .where(JobRow.state == JobState.RUNNING.value, which)
                .order_by(JobRow.created_at)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                silent = f"worker {row.worker} {why}"
                if row.attempts >= max_attempts:
                    row.state, row.finished_at = JobState.FAILED.value, ts
                    row.error = f"{silent}; gave up after {row.attempts} attempts"
                else:
                    row.state, row.worker, row.message = JobState.QUEUED.value, None, f"re-queued: {silent}"
                row.updated_at = ts
            s.flush()
            return [job_record(r) for r in rows]

    def purge_jobs(self, finished_before: datetime) -> int:
        """Delete succeeded/failed jobs finished before `finished_before` (keep >= 24 h, as Azure's LRO guide
        asks, so clients can still read results); returns how many went. Queued and running jobs are kept."""
        with self.db.session() as s:
            gone: CursorResult[Any] = s.execute(  # type: ignore[assignment]
                delete(JobRow)
                .where(
                    JobRow.state.in_([JobState.SUCCEEDED.value, JobState.FAILED.value]),
                    JobRow.finished_at < finished_before,
                )
                .execution_options(synchronize_session=False)
            )
            return int(gone.rowcount or 0)


def _stamp(row: JobRow, worker: str | None, progress: float | None, message: str | None) -> None:
    """A heartbeat on `row`: liveness now, and progress in [0, 1] and a message when given."""
    if progress is not None and not 0.0 <= progress <= 1.0:
        raise InputError("progress", f"{progress} is not in [0, 1]")
    _owned(row, worker, "heartbeat")
    row.heartbeat_at = row.updated_at = now()
    if progress is not None:
        row.progress = progress
    if message is not None:
        row.message = message
