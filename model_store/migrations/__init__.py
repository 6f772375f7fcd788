"""Schema migrations of the store, run from code: ``upgrade(url)`` before the API or a worker starts.

The Alembic configuration is built here (script location = this package), so no alembic.ini is needed;
``placeq migrate`` and the service's start-up call `upgrade`. Revisions live in ``versions/``; write new ones
with `revision(url, message)` (autogenerate against the ORM in `model_store.orm`) and review them by hand.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

from model_store.db import make_engine, normalize_url

HERE = Path(__file__).resolve().parent


def alembic_config(url: str | URL) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["url"] = normalize_url(url)  # kept out of the ini options: '%' in passwords breaks them
    return cfg


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Bring the schema at `url` up to `revision` (creates everything on an empty database)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | URL, revision: str = "base") -> None:
    """Step the schema back to `revision` ("base" drops every table of the store)."""
    command.downgrade(alembic_config(url), revision)


def head() -> str:
    """The newest revision shipped with this package."""
    rev = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if rev is None:  # pragma: no cover - the package always ships revisions
        raise RuntimeError("no migrations found")
    return rev


def current(url: str | URL) -> str | None:
    """The revision the database at `url` is at (None: never migrated)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def revision(url: str | URL, message: str) -> None:
    """Autogenerate a new revision by comparing the database at `url` (at head) with the ORM."""
    command.revision(alembic_config(url), message=message, autogenerate=True)
