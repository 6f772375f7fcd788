"""API keys of the service, stored hashed: `ModelStore.keys`.

A token reads ``pq_<id>_<secret>``: `id` (12 hex digits) is public and names the row, `secret` is
``secrets.token_urlsafe(32)`` (256 bits) and only its sha256 is stored, so a copy of the database holds no usable
key. The token is returned once, by `create`. `verify` looks the row up by id and compares the digests with
`hmac.compare_digest`; an unknown id or a malformed token is still compared against a dummy digest, so the
answer time does not tell an attacker which ids exist. A fast hash is enough: the secret has 256 bits of
entropy, so there is nothing to brute-force (unlike a password, which needs a slow hash).
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from model_store.db import Database
from model_store.errors import ApiKeyNotFound, InvalidName
from model_store.orm import NAME_LEN, ApiKeyRow
from model_store.records import SCOPES, ApiKey, Scope, now, utc

PREFIX = "pq"
_TOKEN = re.compile(rf"^{PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})$")
_DUMMY_DIGEST = hashlib.sha256(b"placeq: no such key").hexdigest()
# `last_used_at` is written at most this often per key, so a busy key does not turn every request into a write.
TOUCH_EVERY = timedelta(seconds=60)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _record(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        scopes=tuple(cast(Scope, s) for s in row.scopes.split()),
        created_at=utc(row.created_at),
        revoked_at=utc(row.revoked_at) if row.revoked_at else None,
        last_used_at=utc(row.last_used_at) if row.last_used_at else None,
    )


def check_scopes(scopes: Iterable[str]) -> tuple[Scope, ...]:
    """Known scopes, deduplicated in `SCOPES` order; at least one."""
    wanted = set(scopes)
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise InvalidName("scopes", f"unknown scope(s) {unknown}; known: {list(SCOPES)}")
    if not wanted:
        raise InvalidName("scopes", f"a key needs at least one scope of {list(SCOPES)}")
    return tuple(s for s in SCOPES if s in wanted)


class ApiKeys:
    """Create, verify, list and revoke API keys (one transaction each)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, name: str, scopes: Iterable[str]) -> tuple[ApiKey, str]:
        """A new key and its token; the token is not stored and cannot be shown again."""
        name = name.strip()
        if not name or len(name) > NAME_LEN or not name.isprintable():
            raise InvalidName("name", f"{name!r}: 1-{NAME_LEN} printable characters")
        scope_list = check_scopes(scopes)
        for _ in range(3):  # a 48-bit id collides about never; retry rather than fail if it does
            key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
            row = ApiKeyRow(
                id=key_id, name=name, scopes=" ".join(scope_list), secret_sha256=_digest(secret), created_at=now()
            )
            try:
                with self.db.session() as s:
                    s.add(row)
                    s.flush()
                    return _record(row), f"{PREFIX}_{key_id}_{secret}"
            except IntegrityError:
                continue
        raise RuntimeError("could not draw an unused API key id")

    def verify(self, token: str) -> ApiKey | None:
        """The key the token belongs to, or None (unknown, malformed, wrong secret or revoked)."""
        match = _TOKEN.match(token)
        key_id, secret = match.groups() if match else ("", token)
        digest = _digest(secret)
        with self.db.session() as s:
            row = s.get(ApiKeyRow, key_id) if match else None
            if row is None:
                hmac.compare_digest(_DUMMY_DIGEST, digest)  # same work as for a known id
                return None
            if not hmac.compare_digest(row.secret_sha256, digest) or row.revoked_at is not None:
                return None
            ts = now()
            if row.last_used_at is None or utc(row.last_used_at) < ts - TOUCH_EVERY:
                row.last_used_at = ts
            return _record(row)

    def get(self, key_id: str) -> ApiKey:
        with self.db.session() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None:
                raise ApiKeyNotFound(key_id)
            return _record(row)

    def list(self) -> builtins.list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        with self.db.session() as s:
            rows = s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id))
            return [_record(r) for r in rows]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke the key from now on (idempotent: revoking twice keeps the first time)."""
        with self.db.session() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None:
                raise ApiKeyNotFound(key_id)
            if row.revoked_at is None:
                row.revoked_at = now()
            return _record(row)
