"""Schemathesis against a real `placeq serve` (uvicorn, temporary SQLite home): every operation of
/openapi.json, every check schemathesis has, its examples, coverage and fuzzing phases, with a fixed seed and
derandomized generation so CI is deterministic. Settings and the reasons for what is relaxed are in
`schemathesis.toml` beside this file (also the way to run it by hand).

It runs the schemathesis CLI, not its pytest plugin: the plugin's lazy-fixture loader writes pytest's
`Node._nodeid`, which pytest 9 no longer has. With PLACEQ_AUTH on, an admin key goes in every request and
schemathesis' `ignored_auth` check also asks each protected operation without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from live_api import live_api

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).with_name("schemathesis.toml")
FULL = os.environ.get("PLACEQ_SCHEMATHESIS_FULL") == "1"  # the coverage phase for the body-heavy operations too


def _config(tmp: Path) -> Path:
    if not FULL:
        return CONFIG
    full = tmp / "schemathesis.toml"
    full.write_text(CONFIG.read_text().replace("phases.coverage.enabled = false", "phases.coverage.enabled = true"))
    return full


def _admin_key(db_url: str) -> str:
    from model_store import ApiKeys, upgrade
    from model_store.db import Database

    upgrade(db_url)
    db = Database(db_url)
    try:
        return ApiKeys(db).create("schemathesis", ["admin"])[1]
    finally:
        db.dispose()


@pytest.mark.parametrize("auth", [False, True], ids=["auth-off", "auth-on"])
def test_the_api_keeps_its_schema(tmp_path: Path, model_dir: Path, auth: bool) -> None:
    home = tmp_path / "home"
    db_url = f"sqlite:///{home / 'placeq.db'}"
    home.mkdir()
    headers = ["-H", f"Authorization: Bearer {_admin_key(db_url)}"] if auth else []
    with live_api(home, base_model=model_dir, database_url=db_url, auth=str(auth).lower()) as base:
        with urllib.request.urlopen(f"{base}/openapi.json", timeout=10) as r:
            operations = sum(len(methods) for methods in json.load(r)["paths"].values())
        done = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "--config-file", str(_config(tmp_path)), "--no-color", "run",
             f"{base}/openapi.json", *headers],
            cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-20000:]
    assert f"Tested: {operations}" in report, report[-5000:]  # nothing was skipped or failed to load
    print(report[report.rfind("SUMMARY") :])  # shown by `pytest -rP`: phases, cases generated, time
