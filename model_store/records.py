"""What the store hands out: frozen dataclasses, detached from any session (rows never leave the package)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from placeq.artifact import BASE_DESIGN as BASE_DESIGN  # re-exported: the store resolves to it
from placeq.artifact import InputKind as InputKind

LIVE = "live"

VersionStatus = Literal["ready", "rejected", "archived"]

# What an API key may do: "predict" scores and reads; "admin" also changes state, and implies "predict".
Scope = Literal["predict", "admin"]
SCOPES: tuple[Scope, ...] = ("predict", "admin")


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED)


def utc(ts: datetime) -> datetime:
    """SQLite returns naive datetimes; the store writes UTC only, so naive means UTC."""
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ModelRef:
    """A (design, version) pair: lineage links and pinned requests."""

    design: str
    version: int

    def __str__(self) -> str:
        return f"{self.design} v{self.version}"


@dataclass(frozen=True)
class ModelVersion:
    """One published ONNX artifact of a design. `sha256` names its blob; `parent` is what it was fine-tuned from."""

    design: str
    version: int
    sha256: str
    size: int
    arch: str
    input_kind: InputKind
    threshold: float
    metrics: dict[str, Any]
    onnx_metadata: dict[str, str]
    parent: ModelRef | None
    status: VersionStatus
    created_at: datetime
    created_by: str
    idempotency_key: str | None = None

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.design, self.version)


@dataclass(frozen=True)
class AliasMove:
    """One row of the append-only alias history: who moved which alias from where to where, when and why."""

    id: int
    design: str
    alias: str
    action: Literal["set", "rollback", "delete"]
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str
    revision: int
    at: datetime


@dataclass(frozen=True)
class Job:
    """A label or fine-tune job; the SQL row is the source of truth, the broker only carries its id."""

    id: str
    kind: str
    design: str
    state: JobState
    progress: float
    message: str
    payload: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    idempotency_key: str | None
    attempts: int
    worker: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    heartbeat_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class DesignRecord:
    """A registered design: its circuit JSON (placeq.domain.Circuit) and where it came from."""

    name: str
    sha256: str
    source: str
    created_at: datetime
    updated_at: datetime
    circuit: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ApiKey:
    """An API key as the store describes it: never its secret (only its sha256 is kept)."""

    id: str
    name: str
    scopes: tuple[Scope, ...]
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def allows(self, scope: Scope) -> bool:
        """Whether the key may act in `scope` ("admin" implies "predict")."""
        return scope in self.scopes or "admin" in self.scopes
