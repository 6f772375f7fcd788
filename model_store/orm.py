"""SQLAlchemy tables of the store: private. Rows never leave this package; callers get `model_store.records`.

One schema for the whole service (model versions, aliases, alias history, jobs, registered designs, API keys) so
that one Alembic history migrates it. Races are settled by the database, not by Python locks: unique constraints on
(design, version) and on every idempotency key, and one counter row (`store_state`) whose UPDATE serializes
alias moves and gives API processes a revision number that only ever grows in commit order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAME_LEN = 128  # placeq.domain.MAX_NAME_LEN
SHA_LEN = 64
KEY_LEN = 128

# Explicit constraint names, so migrations can drop/alter them by name on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Json = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Timestamp = DateTime(timezone=True)

VERSION_STATUSES = ("ready", "rejected", "archived")
JOB_STATES = ("queued", "running", "succeeded", "failed")
ALIAS_ACTIONS = ("set", "rollback", "delete")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: Json}


class StoreState(Base):
    """A single row (id 1). `alias_revision` is bumped in the same transaction as every alias move."""

    __tablename__ = "store_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alias_revision: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class DesignRow(Base):
    __tablename__ = "designs"

    name: Mapped[str] = mapped_column(String(NAME_LEN), primary_key=True)
    circuit: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    sha256: Mapped[str] = mapped_column(String(SHA_LEN), nullable=False)
    source: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)


class VersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("design", "version"),
        UniqueConstraint("idempotency_key"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint(f"status IN {VERSION_STATUSES}", name="status_known"),
        CheckConstraint("input_kind IN ('feat', 'nofeat')", name="input_kind_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    design: Mapped[str] = mapped_column(String(NAME_LEN), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(SHA_LEN), nullable=False, index=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    arch: Mapped[str] = mapped_column(String(64), nullable=False)
    input_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    threshold: Mapped[float] = mapped_column(Float, nullable=False)
    metrics: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    onnx_metadata: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    parent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("model_versions.id", ondelete="RESTRICT"), nullable=True
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    created_by: Mapped[str] = mapped_column(String(NAME_LEN), nullable=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(KEY_LEN), nullable=True)


class AliasRow(Base):
    __tablename__ = "aliases"

    design: Mapped[str] = mapped_column(String(NAME_LEN), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("model_versions.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(NAME_LEN), nullable=False)


class AliasHistoryRow(Base):
    """Append-only: the store never updates or deletes these rows (MLflow users' audit ask, mlflow#2169)."""

    __tablename__ = "alias_history"
    __table_args__ = (
        Index("ix_alias_history_design_alias_revision", "design", "alias", "revision"),
        UniqueConstraint("revision"),
        CheckConstraint(f"action IN {ALIAS_ACTIONS}", name="action_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    design: Mapped[str] = mapped_column(String(NAME_LEN), nullable=False)
    alias: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    from_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor: Mapped[str] = mapped_column(String(NAME_LEN), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    revision: Mapped[int] = mapped_column(BigInteger, nullable=False)
    at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_jobs_state_created_at", "state", "created_at"),
        Index("ix_jobs_state_heartbeat_at", "state", "heartbeat_at"),
        CheckConstraint(f"state IN {JOB_STATES}", name="state_known"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_fraction"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    design: Mapped[str] = mapped_column(String(NAME_LEN), nullable=False, index=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(KEY_LEN), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    worker: Mapped[str | None] = mapped_column(String(NAME_LEN), nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)


class JobPartRow(Base):
    """Items `start` to `stop` - 1 of a job's input or output, as JSON text, written in one transaction with the
    job (input) or with its result (output).

    A large label job's placement numbers live here in parts (`ModelStore.create_job(parts=...)`), so its job row
    stays small and a chunk reads only the parts it covers (`ModelStore.job_parts`); an explore chunk's placements
    are stored the same way when it finishes (`ModelStore.finish(parts=...)`). Immutable; deleted with the job.
    """

    __tablename__ = "job_parts"

    job_id: Mapped[str] = mapped_column(String(32), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    start: Mapped[int] = mapped_column(Integer, primary_key=True)
    stop: Mapped[int] = mapped_column(Integer, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)


class ApiKeyRow(Base):
    """An API key of the service. Only the sha256 of its secret is stored: the token is shown once, at creation."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # the public part of the token
    name: Mapped[str] = mapped_column(String(NAME_LEN), nullable=False)
    scopes: Mapped[str] = mapped_column(String(64), nullable=False)  # space-separated, as OAuth writes them
    secret_sha256: Mapped[str] = mapped_column(String(SHA_LEN), nullable=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
