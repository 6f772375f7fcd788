"""Malformed files through the CLI: `placeq import-netlist`, `placeq features` and `placeq draw` exit 2 with one
``placeq <command>: error: <file>:<line>: ...`` line and no traceback, whatever the file holds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli import main

REPO = Path(__file__).resolve().parents[2]
MALFORMED = json.loads((REPO / "tests" / "data" / "malformed_netlists.json").read_text())["cases"]
EXAMPLE = REPO / "service" / "assets" / "example_placement.json"


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    out = capsys.readouterr()
    assert out.out == "" and "Traceback" not in out.err
    (line,) = out.err.strip().splitlines()
    return line


@pytest.mark.parametrize("case", MALFORMED, ids=[c["name"] for c in MALFORMED])
def test_import_netlist_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: dict[str, str]
) -> None:
    netlist = tmp_path / "ota.sp"
    netlist.write_text(case["netlist"])
    where = case["where"].replace("netlist", str(netlist), 1)
    line = _error(capsys, ["import-netlist", str(netlist), "-o", str(tmp_path / "ota.json")])
    words = case["words"].replace("netlist:", f"{netlist}:")  # the source is named wherever it appears
    assert line.startswith(f"placeq import-netlist: error: {where}: ") and words in line
    assert not (tmp_path / "ota.json").exists()


def _placements(tmp_path: Path) -> dict[str, tuple[bytes, str]]:
    """Broken placement files: name -> (content, what the error must say after the file name)."""
    good = json.dumps(json.loads(EXAMPLE.read_text()))
    negative = json.loads(good)
    negative["devices"][3]["h"] = -1.0
    boolean = json.loads(good)
    boolean["pins"][0]["box"]["x0"] = True
    accented = good.replace("ota1", "ota\xe9")
    return {
        "truncated.jsonl": (f"{good}\n{good[:500]}\n".encode(), ":2: Invalid JSON: EOF while parsing"),
        "binary.jsonl": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ":1: not UTF-8 text (byte 0x89)"),
        "latin1.jsonl": (f"{good}\n{accented}\n".encode("latin-1"), ":2: not UTF-8 text"),
        "empty.jsonl": (b"\n\n", ": no placements in the file"),
        "array.jsonl": (b"[1, 2, 3]\n", ":1: Input should be an object"),
        "negative.jsonl": (f"{good}\n{json.dumps(negative)}\n".encode(), ":2: devices.3.h: Input should be greater"),
        "boolean.json": (json.dumps(boolean).encode(), ": pins.0.box.x0: Input should be a valid number"),
    }


def test_features_and_draw_refuse_broken_placement_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, (content, says) in _placements(tmp_path).items():
        path = tmp_path / name
        path.write_bytes(content)
        for command, out in (("features", "x.npy"), ("draw", "x.png")):
            line = _error(capsys, [command, str(path), "-o", str(tmp_path / out)])
            assert line.startswith(f"placeq {command}: error: {path}{says}"), line
            assert not (tmp_path / out).exists()


def test_a_real_process_exits_2_without_a_traceback(tmp_path: Path) -> None:
    """The installed entry point, not only `main`: what a user's shell sees."""
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b"\x00\xff\xfe garbage")
    netlist = tmp_path / "ota.scs"
    netlist.write_text(MALFORMED[0]["netlist"])
    for argv in (["draw", str(broken), "-o", str(tmp_path / "x.png")],
                 ["import-netlist", str(netlist), "-o", str(tmp_path / "x.json")]):
        done = subprocess.run([sys.executable, "-m", "cli", *argv], capture_output=True, text=True, cwd=REPO,
                              timeout=120, check=False)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith(f"placeq {argv[0]}: error: {argv[1]}:")
