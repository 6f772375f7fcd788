"""Service fixtures: the app on SQLite and on the machine's real PostgreSQL, with a fine-tunable base model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pgdb import pg_url  # noqa: F401  (session fixture: a throwaway PostgreSQL database)
from sqlalchemy import text

from model_store import upgrade
from model_store.db import make_engine
from placeq.domain import Placement
from service.api.app import EXAMPLE, create_app
from service.settings import Settings

TABLES = "alias_history, aliases, jobs, designs, model_versions, api_keys"


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small fast3d model directory (model.pt, model.onnx, model.json) as `placeq train` writes it."""
    from training.checkpoint import Checkpoint, publish
    from training.nets import build

    d = tmp_path_factory.mktemp("base_model")
    model = build("fast3d")
    sample = np.random.default_rng(0).random((4, 18, 64, 64), dtype=np.float32)
    publish(d, Checkpoint(model=model, threshold=0.5, design="ota1", metrics={"accuracy": 0.5}), sample=sample)
    return d


@pytest.fixture(scope="session")
def example() -> Placement:
    return Placement.model_validate_json(EXAMPLE.read_text())


@pytest.fixture(scope="session")
def pg_service_url(pg_url: str) -> str:  # noqa: F811
    upgrade(pg_url)
    return pg_url


@pytest.fixture
def pg_clean_url(pg_service_url: str) -> str:
    """The session's PostgreSQL database, emptied for this test."""
    engine = make_engine(pg_service_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return pg_service_url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'placeq.db'}"
    return str(request.getfixturevalue("pg_clean_url"))


@pytest.fixture
def settings(db_url: str, tmp_path: Path, model_dir: Path) -> Settings:
    return Settings(home=tmp_path / "home", database_url=db_url, blob_root=tmp_path / "blobs",
                    base_model=model_dir, worker="none", reload_interval_s=0.2)


@pytest.fixture
def client(settings: Settings, model_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c
