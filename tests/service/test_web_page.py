"""The web page driven in headless Chromium (Debian's package) against a real `placeq serve` process."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_api import live_api

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is missing: scripts/setup.sh installs it with the dev extra")
    return chromium


@pytest.fixture
def server(tmp_path: Path, model_dir: Path) -> Iterator[str]:
    """`placeq serve` as the README's main command runs it: SQLite, the embedded worker, the shipped model."""
    with live_api(tmp_path / "home", worker=True, base_model=model_dir) as url:
        yield url


def test_paste_predict_and_see_the_drawing(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = chromium_path()
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
        page.fill("#prunerate", "0.25")  # by rate: the page says which rule decided and how many it pruned
        page.click("#predict")
        page.wait_for_function("document.getElementById('result').innerText.includes('highest-scoring')")
        assert "pruning the 25% highest-scoring of the batch" in page.inner_text("#result")
        page.fill("#prunerate", "")
        page.click("#predict")
        page.wait_for_function("document.getElementById('result').innerText.includes('pruning at threshold')")
        page.wait_for_function("document.getElementById('drawing').naturalWidth > 0")
        shot = tmp_path / "web_page.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 20_000
    if os.environ.get("PLACEQ_UPDATE_DOCS") == "1":
        shutil.copy(shot, ROOT / "docs" / "img" / "web_page.png")
