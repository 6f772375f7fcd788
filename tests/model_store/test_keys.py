"""API keys on SQLite and the real PostgreSQL: hashed at rest, verified by id + constant-time digest, revocable,
and the 0002 migration upgrades a database at the previous head without touching its data."""

from __future__ import annotations

from pathlib import Path

import pytest
from pgdb import dump_table, require_pg, temporary_database
from sqlalchemy import inspect
from tiny_onnx import tiny_model

from model_store import ApiKeyNotFound, InvalidName, ModelStore, current, downgrade, head, upgrade
from model_store.db import make_engine


def test_keys_are_hashed_at_rest(store: ModelStore, store_url: str) -> None:
    key, token = store.keys.create("ci", ["predict"])
    prefix, key_id, secret = token.split("_", 2)
    assert (prefix, key_id) == ("pq", key.id) and len(secret) == 43
    rows = dump_table(store_url, "api_keys")
    assert key.id in rows
    assert secret not in rows and token not in rows  # only the sha256 of the secret is stored


def test_verify_accepts_the_token_and_nothing_else(store: ModelStore) -> None:
    key, token = store.keys.create("alice", ["admin"])
    other, _ = store.keys.create("bob", ["predict"])
    found = store.keys.verify(token)
    assert found is not None and found.id == key.id and found.name == "alice"
    assert found.allows("admin") and found.allows("predict")
    assert found.last_used_at is not None
    prefix, key_id, secret = token.split("_", 2)
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for bad in [
        f"pq_{key_id}_{flipped}",  # wrong secret
        f"pq_{other.id}_{secret}",  # another key's id with this secret
        f"pq_000000000000_{secret}",  # unknown id
        token[:-1],  # truncated
        f"{token} ",
        "",
        "Bearer " + token,
    ]:
        assert store.keys.verify(bad) is None, bad


def test_predict_scope_does_not_imply_admin(store: ModelStore) -> None:
    _, token = store.keys.create("reader", ["predict"])
    key = store.keys.verify(token)
    assert key is not None and key.allows("predict") and not key.allows("admin")


def test_revoked_keys_stop_verifying(store: ModelStore) -> None:
    key, token = store.keys.create("temp", ["predict"])
    keep, keep_token = store.keys.create("keep", ["predict"])
    revoked = store.keys.revoke(key.id)
    assert revoked.revoked and revoked.revoked_at is not None
    assert store.keys.verify(token) is None
    assert store.keys.revoke(key.id).revoked_at == revoked.revoked_at  # idempotent: the first time is kept
    assert store.keys.verify(keep_token) is not None
    listed = {k.id: k for k in store.keys.list()}
    assert listed[key.id].revoked and not listed[keep.id].revoked
    with pytest.raises(ApiKeyNotFound, match="nope"):
        store.keys.revoke("nope")


@pytest.mark.parametrize(
    ("name", "scopes", "field"),
    [("", ["predict"], "name"), ("x" * 129, ["predict"], "name"), ("ok", [], "scopes"), ("ok", ["root"], "scopes")],
)
def test_bad_names_and_scopes_are_refused(store: ModelStore, name: str, scopes: list[str], field: str) -> None:
    with pytest.raises(InvalidName) as info:
        store.keys.create(name, scopes)
    assert info.value.field == field
    assert store.keys.list() == []


def _upgrade_from_previous_head(url: str, blobs: Path) -> None:
    upgrade(url, "0001")
    with ModelStore(url, blobs) as store:
        v = store.publish("ota1", tiny_model(), created_by="test", activate=True)
    engine = make_engine(url)
    try:
        assert "api_keys" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    upgrade(url)
    assert current(url) == head()
    engine = make_engine(url)
    try:
        assert "api_keys" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    with ModelStore(url, blobs) as store:
        assert store.get_alias("ota1").version == v.version  # data written at 0001 survives
        _, token = store.keys.create("after-upgrade", ["admin"])
        assert store.keys.verify(token) is not None
    downgrade(url, "0001")
    assert current(url) == "0001"
    with ModelStore(url, blobs) as store:
        assert store.get_alias("ota1").version == v.version


def test_sqlite_upgrade_from_previous_head(tmp_path: Path) -> None:
    _upgrade_from_previous_head(f"sqlite:///{tmp_path / 'old.db'}", tmp_path / "blobs")


def test_postgresql_upgrade_from_previous_head(tmp_path: Path) -> None:
    require_pg()
    with temporary_database("placeq_keys") as url:
        _upgrade_from_previous_head(url, tmp_path / "blobs")
