"""The Alembic history creates the whole schema from nothing, matches the ORM exactly, and undoes cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pgdb import require_pg, temporary_database
from sqlalchemy import inspect
from tiny_onnx import tiny_model

from model_store import ModelStore, current, downgrade, head, upgrade
from model_store.db import make_engine
from model_store.orm import Base

TABLES = {"store_state", "designs", "model_versions", "aliases", "alias_history", "jobs", "api_keys", "job_parts"}


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _schema_diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata))
    finally:
        engine.dispose()


def _roundtrip(url: str, blobs: Path) -> None:
    assert current(url) is None
    upgrade(url)
    assert current(url) == head()
    assert _tables(url) == TABLES
    assert _schema_diff(url) == []  # migrations and orm.py describe the same schema
    with ModelStore(url, blobs) as store:  # usable right away, alias revision seeded
        assert store.alias_revision() == 0
        v = store.publish("ota1", tiny_model(), created_by="test", activate=True)
        assert store.get_alias("ota1").version == v.version == 1
    downgrade(url, "base")
    assert current(url) is None
    assert _tables(url) == set()
    upgrade(url)  # and back up again on the emptied database
    assert _tables(url) == TABLES


def test_sqlite_schema_from_empty_and_back(tmp_path: Path) -> None:
    _roundtrip(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path / "blobs")


def test_postgresql_schema_from_empty_and_back(tmp_path: Path) -> None:
    require_pg()
    with temporary_database("placeq_migr") as url:
        _roundtrip(url, tmp_path / "blobs")


@pytest.mark.parametrize("scheme", ["postgresql://", "postgres://"])
def test_plain_postgres_urls_use_psycopg3(scheme: str) -> None:
    from model_store.db import normalize_url

    assert normalize_url(f"{scheme}u@h:5432/d").drivername == "postgresql+psycopg"


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x' / 'store.db'}"  # the parent directory is created on demand
    upgrade(url)
    upgrade(url)
    assert current(url) == head()
