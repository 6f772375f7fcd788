"""Engine and sessions from one URL: PostgreSQL when deployed, SQLite when embedded.

SQLite settings, and why:
- WAL journal: readers (every API process polling the alias revision) never block the one writer.
- ``busy_timeout``: a writer waits for the lock instead of failing at once with "database is locked".
- ``BEGIN IMMEDIATE`` for every transaction: a deferred transaction that reads and then writes cannot wait for
  the lock (SQLite answers SQLITE_BUSY at the upgrade, busy_timeout or not), so two publishers would race into
  errors; taking the write lock up front turns that race into a queue. WAL readers are not blocked by it.
- ``foreign_keys=ON``: SQLite ignores foreign keys unless asked.
PostgreSQL goes through psycopg 3; a bare ``postgresql://`` URL is rewritten to ``postgresql+psycopg://``.
Connections time out after ``connect_timeout`` (default 5 s, the URL's own value wins): without it a database
host that stops answering blocks every caller, the readiness probe included, for the kernel's TCP timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 5


def normalize_url(url: str | URL) -> URL:
    """The URL with an explicit driver (psycopg 3 for PostgreSQL)."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """An engine configured for the store's concurrency model (see the module docstring)."""
    u = normalize_url(url)
    if u.get_backend_name() != "sqlite":
        connect_args = {} if "connect_timeout" in u.query else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
        return create_engine(u, echo=echo, pool_pre_ping=True, future=True, connect_args=connect_args)
    if u.database and u.database != ":memory:":
        Path(u.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: pysqlite stops issuing its own BEGIN; the listeners below issue BEGIN IMMEDIATE.
    engine = create_engine(
        u,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "isolation_level": None},
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode up to the last checkpointed commit
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """An engine plus its session factory; ``with db.session() as s`` is one committed transaction."""

    def __init__(self, url: str | URL, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, echo=echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, future=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._sessions() as s, s.begin():
            yield s

    def dispose(self) -> None:
        self.engine.dispose()
