"""Store fixtures: every store test runs on SQLite (a temp file) and on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pgdb import pg_url  # noqa: F401  (session fixture: a throwaway PostgreSQL database)
from sqlalchemy import text

from model_store import ModelStore, upgrade
from model_store.db import make_engine

# Everything but store_state (its one row is seeded by the migration).
_TABLES = "alias_history, aliases, jobs, designs, model_versions, api_keys"


@pytest.fixture(scope="session")
def pg_store_url(pg_url: str) -> str:  # noqa: F811
    """The session's PostgreSQL database, migrated to head once."""
    upgrade(pg_url)
    return pg_url


def _wipe_pg(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty store database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade(url)
        return url
    url = str(request.getfixturevalue("pg_store_url"))
    _wipe_pg(url)
    return url


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[ModelStore]:
    s = ModelStore(store_url, tmp_path / "blobs")
    yield s
    s.close()
