"""Model versions: publish (validate, store the blob, insert the row), look up, lineage, status, load.

Publishing follows the MLflow registry's order with Triton's caution: the artifact is validated in onnxruntime
first (a bad file changes nothing), its blob is written and verified, and only then is the row inserted. The
version number is max+1 within the design, guarded by the unique constraint (design, version): two concurrent
publishers may compute the same number, the database refuses the second, and it retries with the next one.
An idempotency key (a fine-tune job's id) makes a redelivered job publish exactly once.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from model_store import _rows
from model_store._rows import _Part, check_design, check_json, check_key, version_query, version_record
from model_store.aliases import lock_aliases, move_alias
from model_store.blobs import BlobStore
from model_store.errors import (
    ArtifactCorrupt,
    ArtifactInvalid,
    DuplicateVersion,
    IdempotencyConflict,
    ModelVersionNotFound,
    VersionInUse,
)
from model_store.orm import AliasRow, VersionRow
from model_store.records import LIVE, ModelRef, ModelVersion, VersionStatus, now
from model_store.validate import validate_artifact
from placeq.errors import InputError

PUBLISH_RETRIES = 25
STATUSES: tuple[VersionStatus, ...] = ("ready", "rejected", "archived")


class Registry(_Part):
    blobs: BlobStore

    def publish(
        self,
        design: str,
        artifact: bytes | Path,
        *,
        created_by: str,
        metrics: dict[str, Any] | None = None,
        threshold: float | None = None,
        arch: str | None = None,
        parent: ModelRef | None = None,
        idempotency_key: str | None = None,
        status: VersionStatus = "ready",
        activate: bool = False,
        reason: str = "",
    ) -> ModelVersion:
        """Store a new version of `design` and return it (or, for a known `idempotency_key`, the existing one).

        `threshold` and `arch` default to the artifact's metadata_props ("threshold", "architecture").
        `status="rejected"` records a candidate that failed its quality gate (kept for lineage and audit, never
        aliasable). `activate=True` moves the "live" alias to it in the same transaction, recorded in the history
        as done by `created_by`. Raises `ArtifactInvalid` (nothing stored) or `ModelVersionNotFound` (parent).
        """
        check_design(design)
        if idempotency_key is not None:
            check_key(idempotency_key)
            found = self._by_key(design, idempotency_key)
            if found is not None:
                return found
        if status not in STATUSES:
            raise InputError("status", f"{status!r} is not one of {STATUSES}")
        if activate and status != "ready":
            raise InputError("activate", f"a {status!r} version cannot be activated")
        data = artifact.read_bytes() if isinstance(artifact, Path) else bytes(artifact)
        info = validate_artifact(data)
        thr = threshold if threshold is not None else info.threshold
        if thr is None:
            raise ArtifactInvalid("threshold", "not given, and the artifact's metadata_props have no threshold")
        if not 0.0 < thr < 1.0:
            raise InputError("threshold", f"{thr} is not a probability in (0, 1)")
        clean_metrics = check_json(metrics or {}, "metrics")
        blob = self.blobs.put(data)

        for attempt in range(PUBLISH_RETRIES):
            try:
                with self.db.session() as s:
                    parent_id = _rows.version_row(s, parent.design, parent.version).id if parent else None
                    latest = s.scalar(select(func.max(VersionRow.version)).where(VersionRow.design == design))
                    row = VersionRow(
                        design=design,
                        version=(latest or 0) + 1,
                        sha256=blob.sha256,
                        size=blob.size,
                        arch=arch or info.arch or "unknown",
                        input_kind=info.input_kind,
                        threshold=float(thr),
                        metrics=clean_metrics,
                        onnx_metadata=info.metadata,
                        parent_id=parent_id,
                        status=status,
                        created_at=now(),
                        created_by=created_by,
                        idempotency_key=idempotency_key,
                    )
                    s.add(row)
                    s.flush()  # the unique constraints fire here
                    if activate:
                        why = reason or "published"
                        rev = lock_aliases(s)
                        move_alias(s, design, LIVE, row, actor=created_by, reason=why, action="set", revision=rev)
                    return version_record(row, parent.design if parent else None, parent.version if parent else None)
            except IntegrityError:
                if idempotency_key is not None:
                    found = self._by_key(design, idempotency_key)
                    if found is not None:
                        return found  # a concurrent delivery of the same job won the race
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # de-synchronize the losers
        raise DuplicateVersion(f"{design}: no free version number after {PUBLISH_RETRIES} attempts")

    def _by_key(self, design: str, key: str) -> ModelVersion | None:
        with self.db.session() as s:
            hit = s.execute(version_query().where(VersionRow.idempotency_key == key)).first()
        if hit is None:
            return None
        found = version_record(*hit)
        if found.design != design:
            raise IdempotencyConflict(key, f"already published {found.design} v{found.version}, not {design}")
        return found

    def get_version(self, design: str, version: int) -> ModelVersion:
        with self.db.session() as s:
            hit = s.execute(version_query().where(VersionRow.design == design, VersionRow.version == version)).first()
        if hit is None:
            raise ModelVersionNotFound(design, version)
        return version_record(*hit)

    def list_versions(self, design: str | None = None, *, status: VersionStatus | None = None) -> list[ModelVersion]:
        """Versions ordered by (design, version)."""
        q = version_query()
        if design is not None:
            q = q.where(VersionRow.design == design)
        if status is not None:
            q = q.where(VersionRow.status == status)
        with self.db.session() as s:
            rows = s.execute(q.order_by(VersionRow.design, VersionRow.version)).all()
        return [version_record(*r) for r in rows]

    def lineage(self, design: str, version: int) -> list[ModelVersion]:
        """The version, its parent, the parent's parent ... back to a version trained from scratch."""
        chain: list[ModelVersion] = []
        with self.db.session() as s:
            row: VersionRow | None = _rows.version_row(s, design, version)
            seen: set[int] = set()
            while row is not None and row.id not in seen:
                seen.add(row.id)
                chain.append(_rows.to_version(s, row))
                row = s.get(VersionRow, row.parent_id) if row.parent_id is not None else None
        return chain

    def set_status(self, design: str, version: int, status: VersionStatus, *, actor: str) -> ModelVersion:
        """Archive or reject a version; refused (`VersionInUse`) while an alias points at it."""
        if status not in STATUSES:
            raise InputError("status", f"{status!r} is not one of {STATUSES}")
        with self.db.session() as s:
            lock_aliases(s)  # no alias may move onto it while its status changes
            row = _rows.version_row(s, design, version)
            if status != "ready":
                held = s.scalars(select(AliasRow.alias).where(AliasRow.version_id == row.id)).all()
                if held:
                    raise VersionInUse(design, version, list(held))
            row.status = status
            return _rows.to_version(s, row)

    def load_artifact(self, design: str, version: int) -> bytes:
        """The ONNX bytes of a version, verified against its sha256 (`ArtifactCorrupt` if they do not match)."""
        found = self.get_version(design, version)
        data = self.blobs.get(found.sha256)
        if len(data) != found.size:
            raise ArtifactCorrupt(found.sha256, f"size {len(data)} != recorded {found.size}")
        return data
