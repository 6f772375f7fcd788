"""Fault: the database becomes unreachable -> /readyz answers 503 naming the database, /predict keeps serving the
model already loaded, requests that need the database answer 503 quickly, and all of it recovers.

The API under test reaches the machine's PostgreSQL through a TCP proxy in this process (`TcpProxy`), so the
database can be taken away from it alone: `down` closes every connection and refuses new ones (the server
crashed or is restarting), `silent` accepts connections and never answers (a host that stopped answering; the
store's connect_timeout bounds every wait).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_helpers import TcpProxy, wait_for
from sqlalchemy.engine import make_url

from placeq.domain import Placement
from service.api.app import create_app
from service.settings import Settings


def _through(url: str, proxy: TcpProxy) -> str:
    u = make_url(url)
    assert (u.host, u.port or 5432) == proxy.target, "the proxy must stand in front of the test's server"
    return u.set(port=proxy.port).render_as_string(hide_password=False)


def _settings(pg_url: str, proxy: TcpProxy, tmp_path: Path, model_dir: Path, **extra: Any) -> Settings:
    """An API without a worker whose database is reached through `proxy`."""
    return Settings(database_url=_through(pg_url, proxy), blob_root=tmp_path / "blobs", home=tmp_path / "home",
                    base_model=model_dir, worker="none", reload_interval_s=0.2, **extra)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("outage", ["down", "silent"])
def test_database_outage_keeps_predict_serving(
    outage: str, pg_clean_url: str, tmp_path: Path, model_dir: Path, example: Placement
) -> None:
    server = make_url(pg_clean_url)
    with TcpProxy((server.host or "127.0.0.1", server.port or 5432)) as proxy:
        settings = _settings(pg_clean_url, proxy, tmp_path, model_dir)
        body: dict[str, Any] = {"placement": json.loads(example.model_dump_json())}
        with TestClient(create_app(settings)) as client:
            before = client.post("/predict", json=body)
            assert before.status_code == 200, before.text
            assert client.get("/readyz").status_code == 200

            getattr(proxy, outage)()
            ready = client.get("/readyz")
            assert ready.status_code == 503, ready.text
            state = ready.json()
            assert state["checks"]["database"] is False and state["checks"]["model_loaded"] is True
            assert any(e.startswith("database: ") for e in state["errors"]), state["errors"]
            assert state["live"] == {"base": 1}

            for _ in range(3):  # the loaded model keeps answering, with the same scores
                during = client.post("/predict", json=body)
                assert during.status_code == 200, during.text
                assert during.json() == before.json()
            jobs = client.get("/jobs")  # needs the database: a quick, honest 503
            assert jobs.status_code == 503 and "database" in jobs.json()["detail"], jobs.text
            assert jobs.headers["Retry-After"]

            proxy.up()
            wait_for("/readyz ready again", lambda: client.get("/readyz").status_code == 200, timeout=60)
            assert client.get("/jobs").status_code == 200
            after = client.post("/predict", json=body)
            assert after.status_code == 200 and after.json() == before.json()


@pytest.mark.timeout(300)
def test_database_outage_with_api_keys_keeps_known_callers_scoring(
    pg_clean_url: str, tmp_path: Path, model_dir: Path, example: Placement
) -> None:
    """With auth on (as deployed), a key verified before the outage keeps scoring through it; a key never seen
    gets an honest 503, not a 401; a revoked key is refused again as soon as the database is back."""
    server = make_url(pg_clean_url)
    with TcpProxy((server.host or "127.0.0.1", server.port or 5432)) as proxy:
        settings = _settings(pg_clean_url, proxy, tmp_path, model_dir, auth=True)
        body: dict[str, Any] = {"placement": json.loads(example.model_dump_json())}
        with TestClient(create_app(settings)) as client:
            store = client.app.state.runtime.store  # type: ignore[attr-defined]
            known_key, known = store.keys.create("known", ["predict"])
            _, unseen = store.keys.create("unseen", ["predict"])
            before = client.post("/predict", json=body, headers={"Authorization": f"Bearer {known}"})
            assert before.status_code == 200, before.text

            proxy.down()
            during = client.post("/predict", json=body, headers={"Authorization": f"Bearer {known}"})
            assert during.status_code == 200 and during.json() == before.json(), during.text
            stranger = client.post("/predict", json=body, headers={"Authorization": f"Bearer {unseen}"})
            assert stranger.status_code == 503 and "database" in stranger.json()["detail"], stranger.text

            proxy.up()
            wait_for("/readyz ready again", lambda: client.get("/readyz").status_code == 200, timeout=60)
            store.keys.revoke(known_key.id)
            revoked = client.post("/predict", json=body, headers={"Authorization": f"Bearer {known}"})
            assert revoked.status_code == 401, revoked.text
