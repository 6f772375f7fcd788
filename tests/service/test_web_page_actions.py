"""The web page's admin actions in headless Chromium against a real `placeq serve` with its embedded worker:
register a design from a netlist and from a circuit JSON, label and fine-tune from uploaded files while the page
follows each job, activate a version and roll it back."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from live_api import live_api
from service_helpers import placements_json
from test_web_page import CHROMIUM_FLAGS, ROOT, chromium_path

from placeq.domain import Placement

if TYPE_CHECKING:
    from playwright.sync_api import Page

NETLIST = ROOT / "tests" / "data" / "magical" / "diffpair" / "diffpair.sp"
CIRCUIT = ROOT / "placeq" / "circuits" / "ota3.json"
JOB_TIMEOUT_MS = 180_000
# True once the models table shows version arg[1] of design arg[0] carrying the live alias (it refreshes every 3 s).
LIVE_ROW = """([design, version]) => [...document.querySelectorAll('#models tbody tr')].some(
    (r) => r.cells[0].textContent === design && r.cells[1].textContent === version
           && r.cells[5].textContent.includes('live'))"""


@pytest.fixture
def server(tmp_path: Path, model_dir: Path) -> Iterator[str]:
    with live_api(tmp_path / "home", worker=True, base_model=model_dir) as url:
        yield url


def _job_done(page: Page, kind: str) -> str:
    """The watch panel's text once the job it follows has finished; the job must have succeeded."""
    page.wait_for_function(
        f"""(() => {{ const t = document.getElementById('watch').textContent;
                     return t.includes('{kind} of') && /succeeded|failed/.test(t); }})()""",
        timeout=JOB_TIMEOUT_MS,
    )
    text = page.inner_text("#watch")
    assert "succeeded" in text, text
    return text


def _live(page: Page, design: str) -> str:
    """The version column of the design's row that carries the live alias."""
    for row in page.query_selector_all("#models tbody tr"):
        cells = [c.inner_text() for c in row.query_selector_all("td")]
        if cells[0] == design and "live" in cells[5]:
            return cells[1]
    return ""


def test_register_label_finetune_activate_and_roll_back(server: str, tmp_path: Path, example: Placement) -> None:
    from playwright.sync_api import sync_playwright

    placements = tmp_path / "ota1.jsonl"
    rows = placements_json(example, 8, seed=1)
    placements.write_text("".join(json.dumps(p) + "\n" for p in rows))
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(str(v) for v in [0, 1, 0, 0, 1, 0, 0, 0]) + "\n")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.goto(f"{server}/ui/")

        # Register: a netlist under a name of our choosing, then a circuit JSON; then a netlist that fails.
        page.set_input_files("#design-file", str(NETLIST))
        page.fill("#design-name", "dp")
        page.click("#register")
        page.wait_for_function("document.getElementById('design-status').textContent.length > 0")
        assert "registered dp: 4 devices, 7 nets (from netlist)" in page.inner_text("#design-status")
        page.fill("#design-name", "")
        page.set_input_files("#design-file", str(CIRCUIT))
        page.click("#register")
        page.wait_for_function("document.getElementById('design-status').textContent.includes('ota3')")
        assert "registered ota3" in page.inner_text("#design-status") and "(from json)" in page.inner_text(
            "#design-status")
        bad = tmp_path / "bad.sp"
        bad.write_text("* t\nM1 d g s b mystery w=1u l=1u\n")
        page.set_input_files("#design-file", str(bad))
        page.click("#register")
        page.wait_for_function("document.getElementById('design-status').textContent.includes('422')")
        assert "`types` field" in page.inner_text("#design-status")

        # Label the uploaded placements and follow the job until it finishes.
        page.fill("#job-design", "ota1")
        page.set_input_files("#job-placements", str(placements))
        page.click("#label")
        text = _job_done(page, "label")
        assert "8 of 8 simulated (offset)" in text

        # Fine-tune on the label job's values (one click), made live.
        page.fill("#job-epochs", "1")
        page.check("#job-activate")
        page.click("#use-values")
        text = _job_done(page, "finetune")
        assert "published ota1 v1" in text and "live" in text
        page.wait_for_function("document.querySelector('#models tbody').textContent.includes('ota1')")
        assert _live(page, "ota1") == "1"

        # Fine-tune again from an uploaded 0/1 labels file, not made live; then activate it from the table.
        page.uncheck("#job-activate")
        page.set_input_files("#job-labels", str(labels))
        page.click("#finetune")
        text = _job_done(page, "finetune")
        assert "published ota1 v2" in text and ", live" not in text
        page.wait_for_selector("#models button[data-action='activate'][data-d='ota1'][data-v='2']")
        page.click("#models button[data-action='activate'][data-d='ota1'][data-v='2']")
        page.wait_for_function("document.getElementById('models-status').textContent.includes('ota1 v2 is live')")
        page.wait_for_function(LIVE_ROW, arg=["ota1", "2"])
        assert _live(page, "ota1") == "2"

        # Roll back: v1 is live again, and the jobs table lists both kinds of job.
        page.click("#models button[data-action='rollback'][data-d='ota1']")
        page.wait_for_function("document.getElementById('models-status').textContent.includes('rolled back')")
        assert "ota1 v1 is live" in page.inner_text("#models-status")
        page.wait_for_function(LIVE_ROW, arg=["ota1", "1"])
        jobs = page.inner_text("#jobs")
        assert "label" in jobs and "finetune" in jobs

        # A labels file that does not fit is refused naming the field.
        labels.write_text("[0, 1]")
        page.set_input_files("#job-labels", str(labels))
        page.click("#finetune")
        page.wait_for_function("document.getElementById('watch').textContent.includes('422')")
        assert "labels: 2 entries for 8 placements" in page.inner_text("#watch")

        # The screenshot in docs: the page after a finished labelling job, ready to fine-tune on its values.
        page.click("#label")
        _job_done(page, "label")
        page.wait_for_timeout(500)
        shot = tmp_path / "web_page_actions.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 20_000
    if os.environ.get("PLACEQ_UPDATE_DOCS") == "1":
        shutil.copy(shot, ROOT / "docs" / "img" / "web_page_actions.png")


@pytest.fixture
def shipped_server(tmp_path: Path) -> Iterator[str]:
    """The service as a user starts it: the shipped base model scores (so the screenshot shows real scores)."""
    with live_api(tmp_path / "home", worker=True) as url:
        yield url


def test_explore_a_space_see_it_and_label_the_suggested_layouts(shipped_server: str, tmp_path: Path) -> None:
    """The explore panel: a job places and scores the space, the page draws its histogram, the best and worst
    placements and the suggested layouts; one click labels those, and one more fine-tunes on their values."""
    from playwright.sync_api import sync_playwright

    server = shipped_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(f"{server}/ui/")
        assert not page.is_visible("#ex-result")  # nothing explored yet: no empty panels
        page.fill("#ex-count", "48")
        page.fill("#ex-k", "6")
        page.select_option("#ex-strategy", "uncertain_spread")
        page.click("#explore")
        page.wait_for_function("document.getElementById('ex-status').textContent.includes('done')",
                               timeout=JOB_TIMEOUT_MS)
        assert "48 placed and scored" in page.inner_text("#ex-counts")
        assert "36 kept" in page.inner_text("#ex-counts") and "12 pruned" in page.inner_text("#ex-counts")
        assert len(page.query_selector_all("#ex-hist rect")) == 40  # 20 bins, kept and pruned
        for img in ("#ex-best", "#ex-worst"):
            page.wait_for_function(f"document.querySelector('{img}').naturalWidth > 0")
        assert len(page.query_selector_all("#ex-suggest tbody tr")) == 6
        with page.expect_download() as got:
            page.click("#ex-download")
        saved = tmp_path / "label_these.jsonl"
        got.value.save_as(saved)
        assert [Placement.model_validate_json(s).design for s in saved.read_text().splitlines()] == ["ota1"] * 6

        # an audit set: 8 random layouts of the space, not the suggested ones, never offered for fine-tuning
        page.fill("#ex-audit-k", "8")
        page.click("#ex-audit-label")
        audit = _job_done(page, "label")
        assert "audit set: 8 of 8 simulated (offset)" in audit and "Fine-tune" not in audit
        audit_id = page.input_value("#ex-audit")
        assert audit_id

        page.click("#ex-label")
        assert "6 of 6 simulated (offset)" in _job_done(page, "label")
        page.fill("#job-epochs", "1")
        page.click("#use-values")
        assert "published ota1 v1" in _job_done(page, "finetune")

        # the few-shot progress on the audit layouts: the base (0 labels) and v1 (the 6 suggested)
        assert not page.is_visible("#ex-progress-chart")
        page.click("#ex-progress")
        page.wait_for_function("document.querySelectorAll('#ex-progress-chart circle').length === 2",
                               timeout=JOB_TIMEOUT_MS)
        assert page.is_visible("#ex-progress-chart")
        said = page.inner_text("#ex-progress-status")
        assert "base v1: 0 labels" in said and "ota1 v1: 6 labels" in said and "random pruning 25.0%" in said
        with urllib.request.urlopen(f"{server}/designs/ota1/progress?audit={audit_id}") as r:
            rows = json.loads(r.read())["versions"]
        assert [(v["design"], v["version"], v["labels"]) for v in rows] == [("base", 1, 0), ("ota1", 1, 6)]
        shot = tmp_path / "web_page_explore.png"
        page.locator("#ex-result").scroll_into_view_if_needed()
        page.locator("section:has(#explore)").screenshot(path=str(shot))
        browser.close()
    assert shot.stat().st_size > 20_000
    if os.environ.get("PLACEQ_UPDATE_DOCS") == "1":
        shutil.copy(shot, ROOT / "docs" / "img" / "web_page_explore.png")
