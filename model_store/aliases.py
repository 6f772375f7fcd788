"""Aliases ("live", "candidate", ...) per design, their append-only history, and the revision API processes poll.

Every alias move runs in one transaction that first bumps the single `store_state` row: the row lock makes
alias moves take turns (so "from_version" in the history is exact), and the counter is a revision that only
grows, in commit order. A history row id would not do: ids are handed out at INSERT, so a slow transaction can
commit id 10 after id 11 was seen, and a poller would miss it. API processes compare `alias_revision()` (one
primary-key read) with the last value they saw and reload the live map only when it changed.

Rollback undoes the last move of an alias (like ``kubectl rollout undo``): it goes to that move's
`from_version`; rolling back twice returns to where it started. Every move, rollbacks included, is a history row
with actor, reason and time, so "what was live at T" is `alias_at(design, T)` (the audit asked for in mlflow#2169).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from model_store import _rows
from model_store._rows import _Part, check_alias, check_design, move_record, version_query, version_record
from model_store.errors import AliasNotFound, NoPreviousVersion, VersionNotReady
from model_store.orm import AliasHistoryRow, AliasRow, StoreState, VersionRow
from model_store.records import BASE_DESIGN, LIVE, AliasMove, ModelVersion, now

Action = Literal["set", "rollback", "delete"]


def lock_aliases(s: Session) -> int:
    """Bump and return the alias revision; holds the store_state row lock until the transaction ends."""
    stmt = (
        update(StoreState)
        .where(StoreState.id == 1)
        .values(alias_revision=StoreState.alias_revision + 1)
        .returning(StoreState.alias_revision)
        .execution_options(synchronize_session=False)
    )
    rev = s.execute(stmt).scalar_one_or_none()
    if rev is None:  # the migration seeds the row; recreate it if someone emptied the table
        s.add(StoreState(id=1, alias_revision=1))
        s.flush()
        rev = 1
    return int(rev)


def move_alias(
    s: Session,
    design: str,
    alias: str,
    target: VersionRow | None,
    *,
    actor: str,
    reason: str,
    action: Action,
    revision: int,
) -> AliasMove | None:
    """Point (design, alias) at `target` (None deletes it) and append the history row; None when the alias
    already points there (nothing to record). Call `lock_aliases` first."""
    if target is not None and target.status != "ready":
        raise VersionNotReady(target.design, target.version, target.status)
    cur = s.get(AliasRow, (design, alias))
    if cur is not None and target is not None and cur.version_id == target.id:
        return None
    from_version = s.get(VersionRow, cur.version_id).version if cur is not None else None  # type: ignore[union-attr]
    ts = now()
    if target is None:
        if cur is None:
            raise AliasNotFound(design, alias)
        s.delete(cur)
    elif cur is None:
        s.add(AliasRow(design=design, alias=alias, version_id=target.id, updated_at=ts, updated_by=actor))
    else:
        cur.version_id, cur.updated_at, cur.updated_by = target.id, ts, actor
    hist = AliasHistoryRow(
        design=design,
        alias=alias,
        action=action,
        from_version=from_version,
        to_version=target.version if target is not None else None,
        actor=actor,
        reason=reason,
        revision=revision,
        at=ts,
    )
    s.add(hist)
    s.flush()
    return move_record(hist)


class Aliases(_Part):
    def set_alias(self, design: str, version: int, *, alias: str = LIVE, actor: str, reason: str = "") -> ModelVersion:
        """Point `alias` of `design` at `version` (a "ready" one); recorded in the history with `actor`.
        Pointing it where it already points records nothing."""
        check_alias(alias)
        with self.db.session() as s:
            rev = lock_aliases(s)
            row = _rows.version_row(s, design, version)
            move_alias(s, design, alias, row, actor=actor, reason=reason, action="set", revision=rev)
            return _rows.to_version(s, row)

    def delete_alias(self, design: str, *, alias: str = LIVE, actor: str, reason: str = "") -> AliasMove:
        check_alias(alias)
        with self.db.session() as s:
            rev = lock_aliases(s)
            move = move_alias(s, design, alias, None, actor=actor, reason=reason, action="delete", revision=rev)
            if move is None:  # pragma: no cover - a delete always moves
                raise AliasNotFound(design, alias)
            return move

    def rollback(self, design: str, *, alias: str = LIVE, actor: str, reason: str = "") -> ModelVersion:
        """Undo the alias's last move: back to its `from_version` (`NoPreviousVersion` if there is none)."""
        check_alias(alias)
        with self.db.session() as s:
            rev = lock_aliases(s)
            last = s.scalar(
                select(AliasHistoryRow)
                .where(AliasHistoryRow.design == design, AliasHistoryRow.alias == alias)
                .order_by(AliasHistoryRow.revision.desc())
                .limit(1)
            )
            if last is None:
                raise AliasNotFound(design, alias)
            if last.from_version is None:
                raise NoPreviousVersion(design, alias, f"{design}/{alias} has no earlier version to roll back to")
            row = _rows.version_row(s, design, last.from_version)
            why = reason or f"rollback of revision {last.revision} ({last.to_version} -> {last.from_version})"
            move_alias(s, design, alias, row, actor=actor, reason=why, action="rollback", revision=rev)
            return _rows.to_version(s, row)

    def get_alias(self, design: str, *, alias: str = LIVE) -> ModelVersion:
        with self.db.session() as s:
            hit = s.execute(
                version_query()
                .join(AliasRow, AliasRow.version_id == VersionRow.id)
                .where(AliasRow.design == design, AliasRow.alias == alias)
            ).first()
        if hit is None:
            raise AliasNotFound(design, alias)
        return version_record(*hit)

    def resolve(self, design: str, *, alias: str = LIVE, fallback: str | None = BASE_DESIGN) -> ModelVersion:
        """`design`'s alias, else the same alias of the `fallback` pseudo-design ("base"), else `AliasNotFound`."""
        try:
            return self.get_alias(design, alias=alias)
        except AliasNotFound:
            if fallback is None or fallback == design:
                raise
            return self.get_alias(fallback, alias=alias)

    def aliases(self, *, alias: str = LIVE) -> dict[str, ModelVersion]:
        """design -> version for one alias over all designs (what an API process loads when the revision moves)."""
        with self.db.session() as s:
            rows = s.execute(
                version_query().join(AliasRow, AliasRow.version_id == VersionRow.id).where(AliasRow.alias == alias)
            ).all()
        return {r[0].design: version_record(*r) for r in rows}

    def alias_history(self, design: str | None = None, *, alias: str | None = None) -> list[AliasMove]:
        """Moves in the order they happened (oldest first)."""
        q = select(AliasHistoryRow)
        if design is not None:
            q = q.where(AliasHistoryRow.design == check_design(design))
        if alias is not None:
            q = q.where(AliasHistoryRow.alias == alias)
        with self.db.session() as s:
            rows = s.scalars(q.order_by(AliasHistoryRow.revision)).all()
        return [move_record(r) for r in rows]

    def alias_at(self, design: str, at: datetime, *, alias: str = LIVE) -> ModelVersion | None:
        """The version `alias` pointed at, at time `at` (None: not set then)."""
        at = at.astimezone(UTC) if at.tzinfo is not None else at.replace(tzinfo=UTC)  # stored in UTC
        with self.db.session() as s:
            last = s.scalar(
                select(AliasHistoryRow)
                .where(AliasHistoryRow.design == design, AliasHistoryRow.alias == alias, AliasHistoryRow.at <= at)
                .order_by(AliasHistoryRow.revision.desc())
                .limit(1)
            )
            if last is None or last.to_version is None:
                return None
            return _rows.to_version(s, _rows.version_row(s, design, last.to_version))

    def alias_revision(self) -> int:
        """A counter bumped by every alias move, in commit order: poll it, reload when it changes."""
        with self.db.session() as s:
            rev = s.scalar(select(StoreState.alias_revision).where(StoreState.id == 1))
        return int(rev or 0)
