"""Access control end to end on SQLite and the real PostgreSQL: API keys with the predict and admin scopes, the
401/403 answers (body, WWW-Authenticate, the OIP shape on /v2), open routes, PLACEQ_OPEN_PREDICT, the OpenAPI
document, `placeq keys` and `placeq serve`'s refusal to go public without keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient
from pgdb import dump_table

from cli import main
from cli.serve import _is_loopback
from model_store import ModelStore
from placeq.circuits import load_design
from placeq.domain import Placement
from service.api.app import create_app
from service.api.auth import INVALID, MISSING
from service.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[2]
FEATURES = np.random.default_rng(0).random((1, 18, 64, 64), dtype=np.float32).ravel().tolist()
INFER = {"inputs": [{"name": "features", "shape": [1, 18, 64, 64], "datatype": "FP32", "data": FEATURES}]}

# (method, path, body) of every protected route family.
PREDICT_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/designs", None),
    ("GET", "/designs/ota1", None),
    ("GET", "/jobs", None),
    ("GET", "/models", None),
    ("GET", "/models/base/1", None),
    ("GET", "/models/base/1/lineage", None),
    ("GET", "/models/base/history", None),
    ("GET", "/v2/models/base", None),
    ("GET", "/v2/models/base/ready", None),
    ("GET", "/v2/models/base/versions/1", None),
    ("GET", "/v2/models/base/versions/1/ready", None),
    ("POST", "/v2/models/base/infer", INFER),
    ("POST", "/v2/models/base/versions/1/infer", INFER),
]
ADMIN_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/designs", {"circuit": {}}),
    ("POST", "/designs/base/explore", {"count": 4}),
    ("POST", "/label", {"design": "ota1", "placements": []}),
    ("POST", "/finetune", {"design": "ota1", "placements": []}),
    ("POST", "/models/base/1/activate", {"reason": "test"}),
    ("POST", "/models/base/rollback", None),
]
OPEN_ROUTES = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/ui/",
    "/ui/app.js",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/examples/placement",
    "/v2",
    "/v2/health/live",
    "/v2/health/ready",
]


def _client(settings: Settings, **update: bool) -> TestClient:
    return TestClient(create_app(settings.model_copy(update={"auth": True, **update})))


@pytest.fixture
def secured(settings: Settings) -> Iterator[TestClient]:
    with _client(settings) as c:
        yield c


def _store(client: TestClient) -> ModelStore:
    store: ModelStore = client.app.state.runtime.store  # type: ignore[attr-defined]
    return store


def _key(client: TestClient, scope: str, name: str = "test") -> tuple[str, str]:
    key, token = _store(client).keys.create(name, [scope])
    return key.id, token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _predict_body(example: Placement) -> dict[str, Any]:
    return {"placement": json.loads(example.model_dump_json())}


def _field(path: str) -> str:
    return "error" if path.startswith("/v2") else "detail"


def test_protected_routes_answer_401_without_a_key(secured: TestClient, example: Placement) -> None:
    routes = [
        ("POST", "/predict", _predict_body(example)),
        ("POST", "/draw", json.loads(example.model_dump_json())),
        *PREDICT_ROUTES,
        *ADMIN_ROUTES,
    ]
    for method, path, body in routes:
        for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}):
            r = secured.request(method, path, json=body, headers=headers)
            assert r.status_code == 401, (method, path, r.text)
            assert r.json() == {_field(path): MISSING}, (method, path)
            assert r.headers["WWW-Authenticate"] == "Bearer"


def test_bad_and_revoked_keys_answer_401(secured: TestClient, example: Placement) -> None:
    key_id, token = _key(secured, "admin")
    revoked_id, revoked = _key(secured, "admin", "old")
    _store(secured).keys.revoke(revoked_id)
    secret = token.split("_", 2)[2]
    bad = ["nope", f"pq_000000000000_{secret}", f"pq_{key_id}_{secret[::-1]}", token + "x", revoked]
    for token_ in bad:
        for headers in (_bearer(token_), {"X-API-Key": token_}):
            r = secured.post("/predict", json=_predict_body(example), headers=headers)
            assert r.status_code == 401 and r.json() == {"detail": INVALID}, (token_, r.text)
            assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
            r = secured.post("/v2/models/base/infer", json=INFER, headers=headers)
            assert r.status_code == 401 and r.json() == {"error": INVALID}, r.text
    assert secured.post("/predict", json=_predict_body(example), headers=_bearer(token)).status_code == 200


def test_a_predict_key_scores_and_reads_but_cannot_change_state(secured: TestClient, example: Placement) -> None:
    key_id, token = _key(secured, "predict", "reader")
    r = secured.post("/predict", json=_predict_body(example), headers=_bearer(token))
    assert r.status_code == 200, r.text
    r = secured.post("/predict", json=_predict_body(example), headers={"X-API-Key": token})
    assert r.status_code == 200, r.text
    assert secured.post("/draw", json=json.loads(example.model_dump_json()), headers=_bearer(token)).status_code == 200
    for method, path, body in PREDICT_ROUTES:
        r = secured.request(method, path, json=body, headers=_bearer(token))
        assert r.status_code == 200, (method, path, r.text)
    for method, path, body in ADMIN_ROUTES:
        r = secured.request(method, path, json=body, headers=_bearer(token))
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["detail"] == f"API key {key_id} ('reader') lacks the 'admin' scope this route needs"
        assert r.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="admin"'
    assert _store(secured).alias_history("base")[-1].actor != f"key:{key_id}"  # nothing moved
    assert _store(secured).keys.get(key_id).last_used_at is not None


def test_an_admin_key_does_everything_and_is_named_in_the_alias_history(
    secured: TestClient, example: Placement, model_dir: Path
) -> None:
    key_id, token = _key(secured, "admin", "ops")
    auth = _bearer(token)
    assert secured.post("/predict", json=_predict_body(example), headers=auth).status_code == 200
    assert secured.get("/models", headers=auth).status_code == 200
    circuit = json.loads(load_design("ota3").model_dump_json()) | {"name": "keyed_ota"}
    r = secured.post("/designs", json={"circuit": circuit}, headers=auth)
    assert r.status_code == 201, r.text
    v = _store(secured).publish("ota1", (model_dir / "model.onnx").read_bytes(), created_by="test")
    r = secured.post(f"/models/ota1/{v.version}/activate", json={"reason": "keyed"}, headers={"X-API-Key": token})
    assert r.status_code == 200, r.text
    (move,) = secured.get("/models/ota1/history", headers=auth).json()
    assert move["actor"] == f"key:{key_id}" and move["reason"] == "keyed"
    r = secured.post("/models/ota1/rollback", headers=auth)
    assert r.status_code in (200, 409), r.text  # 409: the first move has nothing to roll back to
    assert secured.post("/label", json={"design": "nosuch", "placements": []}, headers=auth).status_code in (404, 422)


def test_open_routes_need_no_key(secured: TestClient) -> None:
    for path in OPEN_ROUTES:
        r = secured.get(path)
        assert r.status_code == 200, (path, r.text)
    assert secured.get("/", follow_redirects=False).status_code in (307, 308)


def test_open_predict_opens_scoring_and_reads_but_not_admin(settings: Settings, example: Placement) -> None:
    with _client(settings, open_predict=True) as c:
        assert c.post("/predict", json=_predict_body(example)).status_code == 200
        for method, path, body in PREDICT_ROUTES:
            assert c.request(method, path, json=body).status_code == 200, (method, path)
        for method, path, body in ADMIN_ROUTES:
            r = c.request(method, path, json=body)
            assert r.status_code == 401 and r.json() == {"detail": MISSING}, (method, path)
        _, token = _key(c, "admin")
        r = c.post("/models/base/1/activate", json={"reason": "admin"}, headers=_bearer(token))
        assert r.status_code == 200, r.text


def test_auth_is_off_by_default(client: TestClient, example: Placement) -> None:
    assert Settings().auth is False and Settings().open_predict is False
    assert client.post("/predict", json=_predict_body(example)).status_code == 200
    assert client.post("/models/base/1/activate", json={"reason": "dev"}).status_code == 200
    schema = client.get("/openapi.json").json()
    assert "securitySchemes" not in schema.get("components", {})
    assert all(
        "security" not in op and "401" not in op["responses"] for ops in schema["paths"].values() for op in ops.values()
    )


def _call(path: str) -> str:
    return (
        path.replace("{design}", "base")
        .replace("{name}", "base")
        .replace("{version}", "1")
        .replace("{job_id}", "nosuch")
    )


def test_openapi_documents_every_refusal_it_gives(secured: TestClient, example: Placement) -> None:
    """Every protected operation declares the security schemes and the 401 (admin ones 403) it answers; open ones
    declare none, so a schema-driven fuzzer with keys on finds every status it meets documented."""
    schema = secured.get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    _, predict_token = _key(secured, "predict")
    admin_ops = {(m.upper(), p) for m, p, _ in ADMIN_ROUTES}
    protected = 0
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            url = _call(path)
            body = _predict_body(example) if url == "/predict" else {}
            if "security" not in op:
                assert "401" not in op["responses"], path
                assert secured.request(method, url, json=body).status_code != 401, path
                continue
            protected += 1
            scope = op["security"][0]["bearer"][0]
            r = secured.request(method, url, json=body)
            assert r.status_code == 401 and "401" in op["responses"], (method, path)
            assert _field(path) in op["responses"]["401"]["content"]["application/json"]["schema"]["required"]
            if scope == "admin":
                r = secured.request(method, url, json=body, headers=_bearer(predict_token))
                assert r.status_code == 403 and "403" in op["responses"], (method, path)
            else:
                assert "403" not in op["responses"]
    documented_admin = {
        (m.upper(), p) for p, ops in schema["paths"].items() for m, op in ops.items() if "403" in op["responses"]
    }
    assert {(m, _call(p)) for m, p in documented_admin} == admin_ops
    # + /predict, /draw, /jobs/{job_id}, the three explore reads (a 200 needs a finished job) and progress (it needs
    # a succeeded label job)
    assert protected == len(PREDICT_ROUTES) + len(ADMIN_ROUTES) + 7


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`placeq` commands in this process, on the test's database (Settings come from PLACEQ_* variables)."""
    monkeypatch.setenv("PLACEQ_DATABASE_URL", str(settings.database_url))
    monkeypatch.setenv("PLACEQ_HOME", str(settings.home))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_create_list_revoke_round_trip(
    cli_env: None, settings: Settings, example: Placement, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "create", "--name", "ci", "--scope", "predict"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    key_id = token.split("_")[1]
    assert token.startswith("pq_") and f"created API key {key_id} ('ci', scopes: predict)" in err
    secret = token.split("_", 2)[2]
    assert secret not in dump_table(str(settings.database_url), "api_keys")  # hashed at rest
    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    header, line = listing.splitlines()
    assert header.split()[:3] == ["ID", "NAME", "SCOPES"] and line.split()[:3] == [key_id, "ci", "predict"]
    assert secret not in listing
    with _client(settings) as c:
        assert c.post("/predict", json=_predict_body(example), headers=_bearer(token)).status_code == 200
        assert c.post("/models/base/rollback", headers=_bearer(token)).status_code == 403
        assert main(["keys", "revoke", key_id]) == 0
        assert f"revoked API key {key_id} ('ci')" in capsys.readouterr().out
        assert c.post("/predict", json=_predict_body(example), headers=_bearer(token)).status_code == 401
    assert main(["keys", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[-1].endswith("Z")  # the revoked column is filled
    assert main(["keys", "revoke", "000000000000"]) == 2
    assert "no API key '000000000000'" in capsys.readouterr().err


def test_serve_refuses_a_public_host_without_keys(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PLACEQ_AUTH", "PLACEQ_OPEN_PREDICT")}
    env["PLACEQ_HOME"] = str(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "cli", "serve", "--host", "0.0.0.0", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert "refusing to listen on 0.0.0.0" in run.stderr and "PLACEQ_AUTH=true" in run.stderr
    assert "--insecure" in run.stderr
    assert not (tmp_path / "placeq.db").exists()  # nothing was started
    assert all(_is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(_is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "api.example.com"))


def test_web_page_asks_for_a_key_when_keys_are_on(tmp_path: Path, model_dir: Path) -> None:
    """Headless Chromium against a real `placeq serve` with PLACEQ_AUTH=true: the page shows its key field after
    a 401, keeps the key in sessionStorage and scores with it."""
    from live_api import live_api
    from playwright.sync_api import sync_playwright
    from test_web_page import CHROMIUM_FLAGS, chromium_path

    from model_store import ApiKeys, upgrade
    from model_store.db import Database

    chromium = chromium_path()
    url = f"sqlite:///{tmp_path / 'placeq.db'}"
    upgrade(url)
    db = Database(url)
    _, token = ApiKeys(db).create("browser", ["predict"])
    db.dispose()
    with live_api(tmp_path, base_model=model_dir, auth="true") as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.goto(f"{base}/ui/")
        page.wait_for_selector("#apikey", state="visible")  # /models answered 401
        page.click("#example")  # /examples/placement is open
        page.wait_for_function("document.getElementById('payload').value.includes('ota1')")
        page.click("#predict")
        page.wait_for_function("document.getElementById('error').textContent.includes('401')")
        page.fill("#apikey", token)
        page.press("#apikey", "Enter")
        page.dispatch_event("#apikey", "change")
        page.wait_for_selector("#models tbody tr")  # the key works for reads
        page.click("#predict")
        page.wait_for_selector("#result table")
        assert "model base v1" in page.inner_text("#result")
        assert page.evaluate("sessionStorage.getItem('placeq-api-key')") == token
        browser.close()


def test_cli_scopes_are_the_store_scopes() -> None:
    from cli.keys import SCOPES as CLI_SCOPES
    from model_store import SCOPES

    assert CLI_SCOPES == SCOPES


def test_compose_runs_the_api_with_keys() -> None:
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert spec["services"]["api"]["environment"]["PLACEQ_AUTH"] == "true"
    assert spec["services"]["api"]["environment"]["PLACEQ_DATABASE_URL"].startswith("postgresql")
    assert "placeq keys create --name admin --scope admin" in (ROOT / "docker-compose.yml").read_text()
