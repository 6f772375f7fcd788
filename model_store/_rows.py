"""Row -> record conversion, name checks and the shared queries of the store's parts (private)."""

from __future__ import annotations

import json
import re
from typing import Any, cast

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from model_store.db import Database
from model_store.errors import InvalidName, ModelVersionNotFound
from model_store.orm import AliasHistoryRow, DesignRow, JobRow, VersionRow
from model_store.records import (
    AliasMove,
    DesignRecord,
    InputKind,
    Job,
    JobState,
    ModelRef,
    ModelVersion,
    VersionStatus,
    utc,
)
from placeq.domain import Name

_NAME = TypeAdapter(Name)
_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_KEY = re.compile(r"^[A-Za-z0-9_.:/+=@-]{1,128}$")


class _Part:
    """What every part of `ModelStore` shares: the database (set by `ModelStore.__init__`)."""

    db: Database


def check_design(design: str, field: str = "design") -> str:
    """Design names follow placeq.domain.Name (they appear in URLs and file names)."""
    try:
        return _NAME.validate_python(design)
    except ValidationError as exc:
        raise InvalidName(field, f"{design!r} is not a valid design name: {exc.errors()[0]['msg']}") from None


def check_alias(alias: str) -> str:
    if not _ALIAS.match(alias):
        raise InvalidName("alias", f"{alias!r}: lower-case letter, then up to 63 of [a-z0-9_-]")
    return alias


def check_key(key: str, field: str = "idempotency_key") -> str:
    if not _KEY.match(key):
        raise InvalidName(field, f"{key!r}: 1-128 characters of [A-Za-z0-9_.:/+=@-]")
    return key


def check_json(value: Any, field: str) -> dict[str, Any]:
    """A JSON object without NaN/inf (PostgreSQL's jsonb refuses them; SQLite would store invalid JSON)."""
    from placeq.errors import InputError

    if not isinstance(value, dict):
        raise InputError(field, f"expected a JSON object, got {type(value).__name__}")
    try:
        return cast(dict[str, Any], json.loads(json.dumps(value, allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise InputError(field, f"not JSON-serializable: {exc}") from None


_Parent = aliased(VersionRow)


def version_query() -> Any:
    """SELECT version, parent design, parent version (lineage resolved in one join)."""
    return select(VersionRow, _Parent.design, _Parent.version).outerjoin(_Parent, VersionRow.parent_id == _Parent.id)


def version_record(row: VersionRow, parent_design: str | None, parent_version: int | None) -> ModelVersion:
    parent = ModelRef(parent_design, parent_version) if parent_design is not None and parent_version else None
    return ModelVersion(
        design=row.design,
        version=row.version,
        sha256=row.sha256,
        size=row.size,
        arch=row.arch,
        input_kind=cast(InputKind, row.input_kind),
        threshold=row.threshold,
        metrics=dict(row.metrics),
        onnx_metadata={str(k): str(v) for k, v in row.onnx_metadata.items()},
        parent=parent,
        status=cast(VersionStatus, row.status),
        created_at=utc(row.created_at),
        created_by=row.created_by,
        idempotency_key=row.idempotency_key,
    )


def version_row(s: Session, design: str, version: int) -> VersionRow:
    row = s.scalar(select(VersionRow).where(VersionRow.design == design, VersionRow.version == version))
    if row is None:
        raise ModelVersionNotFound(design, version)
    return row


def to_version(s: Session, row: VersionRow) -> ModelVersion:
    parent = s.get(VersionRow, row.parent_id) if row.parent_id is not None else None
    return version_record(row, parent.design if parent else None, parent.version if parent else None)


def move_record(row: AliasHistoryRow) -> AliasMove:
    return AliasMove(
        id=row.id,
        design=row.design,
        alias=row.alias,
        action=cast(Any, row.action),
        from_version=row.from_version,
        to_version=row.to_version,
        actor=row.actor,
        reason=row.reason,
        revision=row.revision,
        at=utc(row.at),
    )


def job_record(row: JobRow, *, with_payload: bool = True, with_result: bool = True) -> Job:
    """`with_payload=False` leaves the payload out ({}): a large label job's is hundreds of megabytes of JSON;
    `with_result=False` leaves the result out (None): a parent polling its chunks needs only their states."""
    return Job(
        id=row.id,
        kind=row.kind,
        design=row.design,
        state=JobState(row.state),
        progress=row.progress,
        message=row.message,
        payload=dict(row.payload) if with_payload else {},
        result=dict(row.result) if with_result and row.result is not None else None,
        error=row.error,
        idempotency_key=row.idempotency_key,
        attempts=row.attempts,
        worker=row.worker,
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
        started_at=utc(row.started_at) if row.started_at else None,
        heartbeat_at=utc(row.heartbeat_at) if row.heartbeat_at else None,
        finished_at=utc(row.finished_at) if row.finished_at else None,
    )


def design_record(row: DesignRow) -> DesignRecord:
    return DesignRecord(
        name=row.name,
        sha256=row.sha256,
        source=row.source,
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
        circuit=dict(row.circuit),
    )
