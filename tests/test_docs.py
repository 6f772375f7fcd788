"""Docs that run: every command block a user is meant to type in README.md and docs/ is executed here.

A renamed flag, a changed request body or a stale path in the docs then breaks CI instead of the next user who
copies the block. The rules, read from the Markdown itself:

- A fenced ```bash block is a user's commands: it runs with ``bash -euo pipefail`` in a temporary copy of the
  repository (every top-level entry linked, ``docs/`` copied so blocks that redraw figures write into the copy,
  no ``var/``), with ``.venv/bin`` first on PATH and a temporary ``PLACEQ_HOME``. The blocks of one page run in
  order in one directory, so a page can build on its earlier blocks, as its reader does.
- A ```console block is commands (``$ ...``) and what they print: each command runs, and each printed line it
  shows must appear in the real output.
- A block that calls the API at ``http://127.0.0.1:8000`` gets a real ``placeq serve`` (embedded worker, the
  shipped base model) on a free loopback port instead.
- HTML comments right above the fence adjust a block; they are invisible on the rendered page:
  ``<!-- docs-test: skip REASON -->`` (full-scale runs, commands that install or serve forever),
  ``<!-- docs-test: replace "OLD" => "NEW" -->`` (e.g. ``--count 16384`` -> ``--count 48``; OLD must be in the
  block, so a stale marker fails too) and ``<!-- docs-test: setup COMMAND -->`` (creates the user's own files a
  block assumes, such as ``my_ota.json``).
- Other languages (``python`` signatures, plain diagrams) are listings, not run; a plain ``` block that starts
  like a command is an error, so a new command block cannot slip past unmarked.

The terminal summary prints how many blocks ran and how many were skipped, each with its reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from service_helpers import live_api

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DOC_FILES = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")),
             *sorted((REPO / "docs" / "results").glob("*.md")))
SERVER = "http://127.0.0.1:8000"
COMMAND_LANGS = ("bash", "console")
MARKER = re.compile(r"^<!-- docs-test: (skip|replace|setup) (.+?) -->$")
REPLACE = re.compile(r'^"(.+)" => "(.*)"$')
# A plain block whose first line looks like one of these is a command block that forgot its ```bash.
LOOKS_LIKE_A_COMMAND = re.compile(r"^(\$ )?(placeq |\.venv/bin/|scripts/|curl |bash |docker )")
BLOCK_TIMEOUT_S = 300
# Fewer blocks than this running means the markers or the parser went wrong, not that the docs got shorter.
MIN_BLOCKS_RUN = 12
SUMMARY: pytest.StashKey[dict[str, list[str]]] = pytest.StashKey()


@dataclass(frozen=True)
class Block:
    """One fenced block of a Markdown page, with its docs-test markers."""

    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    skip: str | None = None
    replaces: tuple[tuple[str, str], ...] = ()
    setup: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"

    @property
    def is_command(self) -> bool:
        return self.lang in COMMAND_LANGS

    def script(self) -> str:
        """The block as it runs: markers' replacements applied (each must match), the API pointed at `SERVER`."""
        text = self.text
        for old, new in self.replaces:
            if old not in text:
                raise AssertionError(f"{self.where}: docs-test replace {old!r} matches nothing in the block")
            text = text.replace(old, new)
        return text


@dataclass
class _Markers:
    skip: str | None = None
    replaces: list[tuple[str, str]] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)
    line: int = 0


def parse(path: Path) -> list[Block]:
    """Every fenced block of `path`; markers must sit directly above their fence."""
    lines = path.read_text().split("\n")
    blocks: list[Block] = []
    pending: _Markers | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := MARKER.match(line.strip()):
            pending = pending or _Markers(line=i + 1)
            kind, arg = m.groups()
            if kind == "skip":
                pending.skip = arg
            elif kind == "setup":
                pending.setup.append(arg)
            elif r := REPLACE.match(arg):
                pending.replaces.append((r.group(1), r.group(2)))
            else:
                raise AssertionError(f"{path.name}:{i + 1}: write docs-test replace as \"OLD\" => \"NEW\"")
            i += 1
            continue
        if "docs-test" in line:
            raise AssertionError(f"{path.name}:{i + 1}: unreadable docs-test marker: {line!r}")
        if line.startswith("```"):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
            if end is None:
                raise AssertionError(f"{path.name}:{i + 1}: fence never closed")
            marks = pending or _Markers()
            blocks.append(Block(path, i + 1, line[3:].strip(), "\n".join(lines[i + 1:end]), marks.skip,
                                tuple(marks.replaces), tuple(marks.setup)))
            pending = None
            i = end + 1
            continue
        if pending is not None:
            raise AssertionError(f"{path.name}:{pending.line}: docs-test marker not directly above a fence")
        i += 1
    return blocks


def _skip_reason(block: Block) -> str | None:
    if block.skip:
        return block.skip
    if "../shared/" in block.text and not SHARED.is_dir() and os.environ.get("CI") != "true":
        return "../shared (UT-AnLay netlists) not present on this machine"
    return None


def _workspace(root: Path) -> Path:
    """A repository copy the blocks may write into: entries linked, docs/ copied, no var/, ../shared beside."""
    work = root / "repo"
    work.mkdir(parents=True)
    for entry in REPO.iterdir():
        if entry.name not in {".git", "docs", "var"}:
            (work / entry.name).symlink_to(entry)
    shutil.copytree(REPO / "docs", work / "docs")
    if SHARED.is_dir():
        (root / "shared").symlink_to(SHARED)
    return work


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLACEQ_")}
    env["PATH"] = f"{REPO / '.venv' / 'bin'}:{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    env["PLACEQ_HOME"] = str(home)
    return env


@pytest.fixture(scope="module")
def docs_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("docs_home")


@pytest.fixture(scope="module")
def docs_server(docs_home: Path) -> Iterator[str]:
    """`placeq serve` as the README runs it (SQLite under PLACEQ_HOME, embedded worker, shipped base model)."""
    with live_api(docs_home, worker=True) as base:
        yield base


class _Summary:
    """Prints, after the run, which doc blocks ran and which were skipped and why."""

    def __init__(self, results: dict[str, list[str]]) -> None:
        self.results = results

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        ran, skipped = self.results["ran"], self.results["skipped"]
        terminalreporter.write_sep("-", "docs test")
        terminalreporter.write_line(f"docs-test: {len(ran) + len(skipped)} command blocks: {len(ran)} run, "
                                    f"{len(skipped)} skipped")
        for line in skipped:
            terminalreporter.write_line(f"  skipped {line}")


@pytest.fixture(scope="module")
def summary(request: pytest.FixtureRequest) -> dict[str, list[str]]:
    config = request.config
    if SUMMARY not in config.stash:
        results: dict[str, list[str]] = {"ran": [], "skipped": []}
        config.stash[SUMMARY] = results
        config.pluginmanager.register(_Summary(results), "placeq-docs-test-summary")
    return config.stash[SUMMARY]


def _run(cmd: str, cwd: Path, env: dict[str, str], where: str) -> str:
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=BLOCK_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{where}: exit {done.returncode}\n--- block as run:\n{cmd}\n--- stdout:\n"
                             f"{done.stdout[-3000:]}\n--- stderr:\n{done.stderr[-3000:]}")
    return done.stdout


def _run_console(block: Block, script: str, cwd: Path, env: dict[str, str]) -> None:
    """Each ``$ command`` runs; each line the page shows after it must be a line of its real output."""
    steps: list[tuple[str, list[str]]] = []
    for line in script.split("\n"):
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif line.strip() and steps:
            steps[-1][1].append(line.strip())
    for cmd, shown in steps:
        out = {line.strip() for line in _run("\n".join((*block.setup, cmd)), cwd, env, block.where).split("\n")}
        missing = [line for line in shown if line not in out]
        assert not missing, f"{block.where}: `{cmd}` no longer prints {missing} (got {sorted(out)})"


ALL_BLOCKS = [b for path in DOC_FILES for b in parse(path)]


def test_every_command_block_is_marked_and_runs_or_says_why_not() -> None:
    """The plan: command blocks are ```bash / ```console; each runs or carries a skip reason."""
    unmarked = [b.where for b in ALL_BLOCKS if b.lang in ("", "text") and LOOKS_LIKE_A_COMMAND.match(b.text.lstrip())]
    assert not unmarked, f"command blocks without ```bash (mark them, or skip them with a reason): {unmarked}"
    commands = [b for b in ALL_BLOCKS if b.is_command]
    misplaced = [b.where for b in ALL_BLOCKS if not b.is_command and (b.skip or b.replaces or b.setup)]
    assert not misplaced, f"docs-test markers on blocks that never run: {misplaced}"
    run = [b for b in commands if _skip_reason(b) is None]
    for b in run:
        b.script()  # every replace marker still matches its block
    assert len(run) >= MIN_BLOCKS_RUN, f"only {len(run)} of {len(commands)} command blocks would run"
    assert len(run) > len(commands) - len(run), "more command blocks skipped than run"


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in DOC_FILES if any(b.is_command for b in parse(p))],
                         ids=lambda p: str(p.relative_to(REPO)))
def test_doc_page_commands_run(
    path: Path, tmp_path: Path, docs_home: Path, summary: dict[str, list[str]], request: pytest.FixtureRequest
) -> None:
    blocks = [b for b in parse(path) if b.is_command]
    work = _workspace(tmp_path)
    env = _env(docs_home)
    for block in blocks:
        reason = _skip_reason(block)
        if reason is not None:
            summary["skipped"].append(f"{block.where}: {reason}")
            continue
        script = block.script()
        if SERVER in script:
            script = script.replace(SERVER, request.getfixturevalue("docs_server"))
        if block.lang == "console":
            _run_console(block, script, work, env)
        else:
            _run("\n".join((*block.setup, script)), work, env, block.where)
        summary["ran"].append(block.where)
