"""A throwaway PostgreSQL database per test session, on the machine's real server (never a fake).

Import the fixture into a conftest to use it (``from pgdb import pg_url  # noqa: F401``); `tests/` is on
sys.path because tests/conftest.py is the rootdir conftest. The server is ``PLACEQ_TEST_PG`` (a maintenance-
database URL), by default postgres@127.0.0.1:5432 with trust auth. Without a server the tests skip, except
under CI=true, where they fail: CI must exercise PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

MAINTENANCE_URL = os.environ.get("PLACEQ_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(MAINTENANCE_URL, autocommit=True, connect_timeout=5)


def pg_available() -> str | None:
    """None if the server answers, else why not."""
    try:
        with _admin() as conn:
            conn.execute("SELECT 1")
        return None
    except psycopg.OperationalError as exc:
        return str(exc).strip()


def create_database(prefix: str = "placeq_test") -> str:
    """Create an empty database with a random name; returns its SQLAlchemy URL (psycopg 3 driver)."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with _admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(MAINTENANCE_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(False)


def drop_database(url: str) -> None:
    """Drop the database at `url`, disconnecting anyone still on it (PostgreSQL >= 13)."""
    name = make_url(url).database or ""
    with _admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def temporary_database(prefix: str = "placeq_test") -> Iterator[str]:
    url = create_database(prefix)
    try:
        yield url
    finally:
        drop_database(url)


def require_pg() -> None:
    """Skip (or, under CI=true, fail) when no PostgreSQL server answers."""
    why = pg_available()
    if why is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL unreachable at {MAINTENANCE_URL} under CI: {why}")
    pytest.skip(f"PostgreSQL unreachable at {MAINTENANCE_URL}: {why}")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of an empty database, created for this test session and dropped at its end."""
    require_pg()
    with temporary_database() as url:
        yield url


def dump_table(url: str, table: str) -> str:
    """Every value of `table`, as text: what a stolen copy of the database would hold."""
    from sqlalchemy import text

    from model_store.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return repr(conn.execute(text(f"SELECT * FROM {table}")).all())
    finally:
        engine.dispose()
