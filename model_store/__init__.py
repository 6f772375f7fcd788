"""The model store: versions, aliases and their history, jobs and designs in SQL; ONNX artifacts as blobs.

    from model_store import ModelStore, upgrade
    upgrade(url)                                   # Alembic migrations, once per deployment/start
    store = ModelStore(url, blob_root)
    v = store.publish("ota1", onnx_bytes, created_by="job:42", metrics={...}, idempotency_key="job:42")
    store.set_alias("ota1", v.version, actor="alice", reason="beats v3 on AUC")
    store.alias_revision()                         # what every API process polls to notice alias moves

SQLite (embedded, WAL) or PostgreSQL (psycopg 3). Callers get frozen records, never ORM rows; see
docs/model_store.md for the schema and the guarantees.
"""

from model_store.blobs import BlobRef, BlobStore, sha256_hex
from model_store.designs import circuit_sha256
from model_store.errors import (
    AliasNotFound,
    ApiKeyNotFound,
    ArtifactCorrupt,
    ArtifactInvalid,
    DuplicateVersion,
    IdempotencyConflict,
    InvalidName,
    JobNotFound,
    JobStateError,
    ModelStoreError,
    ModelVersionNotFound,
    NoPreviousVersion,
    VersionInUse,
    VersionNotReady,
)
from model_store.keys import ApiKeys
from model_store.migrations import current, downgrade, head, upgrade
from model_store.model_dir import publish_model_dir
from model_store.records import (
    BASE_DESIGN,
    LIVE,
    SCOPES,
    AliasMove,
    ApiKey,
    DesignRecord,
    InputKind,
    Job,
    JobState,
    ModelRef,
    ModelVersion,
    Scope,
    VersionStatus,
)
from model_store.store import ModelStore
from model_store.validate import ArtifactInfo, validate_artifact
from model_store.watch import AliasWatcher

__all__ = [
    "BASE_DESIGN",
    "LIVE",
    "SCOPES",
    "AliasMove",
    "AliasNotFound",
    "AliasWatcher",
    "ApiKey",
    "ApiKeyNotFound",
    "ApiKeys",
    "ArtifactCorrupt",
    "ArtifactInfo",
    "ArtifactInvalid",
    "BlobRef",
    "BlobStore",
    "DesignRecord",
    "DuplicateVersion",
    "IdempotencyConflict",
    "InputKind",
    "InvalidName",
    "Job",
    "JobNotFound",
    "JobState",
    "JobStateError",
    "ModelRef",
    "ModelStore",
    "ModelStoreError",
    "ModelVersion",
    "ModelVersionNotFound",
    "NoPreviousVersion",
    "Scope",
    "VersionInUse",
    "VersionNotReady",
    "VersionStatus",
    "circuit_sha256",
    "current",
    "downgrade",
    "head",
    "publish_model_dir",
    "sha256_hex",
    "upgrade",
    "validate_artifact",
]
