"""`benchmarks/bench_load.py --quick` end to end: a real `placeq serve`, a few dozen HTTP calls, zero errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_load_run_serves_every_call(tmp_path: Path) -> None:
    out, png = tmp_path / "bench_load.json", tmp_path / "load_rss.png"
    cmd = [sys.executable, "benchmarks/bench_load.py", "--quick", "--out", str(out), "--plot", str(png)]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())

    rows = result["rows"]
    assert {(r["model"], r["config"], r["kind"]) for r in rows} == {
        ("fast3d", "callers", "single"),
        ("fast3d", "callers", "batch64"),
    }
    for r in rows:
        assert r["errors"] == 0, r["error_messages"]
        assert r["requests"] >= (24 if r["kind"] == "single" else 4)
        assert r["layouts"] == r["requests"] * r["batch"]
        assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]
        assert r["server_rss_mb"] > 0

    burst, soak = result["burst"], result["soak"]
    assert burst["errors"] == 0 and burst["requests"] == 6 and burst["layouts"] == 6 * 64
    assert soak["errors"] == 0 and soak["requests"] == 60
    counts = [c for c, _ in soak["rss_samples"]]
    assert counts[0] == 0 and counts[-1] == 60 and counts == sorted(counts)
    assert all(mb > 0 for _, mb in soak["rss_samples"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| fast3d | callers |" in run.stdout  # the Markdown table
