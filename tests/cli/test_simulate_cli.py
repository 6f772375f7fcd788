"""`placeq simulate` end to end: a run where nothing could be simulated fails, with the reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]


def test_every_placement_failing_exits_2_with_the_reason(tmp_path: Path) -> None:
    """An ngspice that answers nothing (a broken install) fails every placement: exit 2 naming the reason, so a
    script stops here rather than training on an empty label set; the failed rows are still written."""
    fake = tmp_path / "ngspice"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    placements = tmp_path / "p.jsonl"
    run = [sys.executable, "-m", "cli"]
    subprocess.run([*run, "place", "--design", "ota1", "--count", "3", "-o", str(placements)], cwd=REPO,
                   check=True, capture_output=True, timeout=120)
    out = tmp_path / "labels.parquet"
    done = subprocess.run(
        [*run, "simulate", "--design", "ota1", str(placements), "-o", str(out), "--backend", "batch", "--no-cache",
         "--no-progress"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "PLACEQ_NGSPICE": str(fake)},
    )
    assert done.returncode == 2, done.stderr
    assert json.loads(done.stdout)["failed"] == 3
    reason = "ngspice -b produced no output (rc 0) (simulation with no gradient)"
    assert f"all 3 placements failed to simulate: {reason} (x3)" in done.stderr
    assert "--tech" in done.stderr and "Traceback" not in done.stderr
    assert pq.read_table(out).column("status").to_pylist() == ["failed"] * 3


def test_a_run_with_some_labels_exits_0(tmp_path: Path) -> None:
    placements = tmp_path / "p.jsonl"
    run = [sys.executable, "-m", "cli"]
    subprocess.run([*run, "place", "--design", "ota1", "--count", "2", "-o", str(placements)], cwd=REPO,
                   check=True, capture_output=True, timeout=120)
    done = subprocess.run([*run, "simulate", "--design", "ota1", str(placements), "-o", str(tmp_path / "l.csv"),
                           "--no-cache", "--no-progress"], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] == 2
