"""The web page driven in headless Chromium (Debian's package) against a real `placeq serve` process."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path, model_dir: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "PLACEQ_HOME": str(tmp_path), "PLACEQ_BASE_MODEL": str(model_dir)}
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "placeq", "serve", "--port", str(port)], env=env,
                                stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError((tmp_path / "serve.log").read_text()[-3000:]) from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_paste_predict_and_see_the_drawing(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is missing: scripts/setup.sh installs it with the dev extra")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{server}/ui/")
        page.click("#example")
        page.wait_for_function("document.getElementById('payload').value.includes('ota1')")
        page.click("#predict")
        page.wait_for_selector("#result table")
        page.wait_for_function("document.getElementById('drawing').naturalWidth > 0")
        result = page.inner_text("#result")
        assert "model base v1" in result and ("prune" in result or "route it" in result)
        page.wait_for_selector("#models tbody tr")
        assert "live" in page.inner_text("#models")
        assert page.inner_text("#ready") == "ready"
        page.fill("#payload", '{"design": "ota1", "devices": []}')
        page.click("#predict")
        page.wait_for_function("document.getElementById('error').textContent.length > 0")
        assert "422" in page.inner_text("#error") and "devices" in page.inner_text("#error")
        page.click("#example")
        page.wait_for_function("document.getElementById('payload').value.includes('ota1')")
        page.click("#predict")
        page.wait_for_selector("#result table")
        page.wait_for_function("document.getElementById('drawing').naturalWidth > 0")
        shot = tmp_path / "web_page.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 20_000
    if os.environ.get("PLACEQ_UPDATE_DOCS") == "1":
        shutil.copy(shot, ROOT / "docs" / "img" / "web_page.png")
