"""`benchmarks/bench_predict_forms.py --quick` end to end: both forms over real HTTP, the network beside them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_quick_forms_run_serves_every_call(tmp_path: Path) -> None:
    out = tmp_path / "forms.json"
    cmd = [sys.executable, "benchmarks/bench_predict_forms.py", "--quick", "--out", str(out)]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())
    cells = {(r["kind"], r["callers"], r["form"]) for r in result["rows"]}
    assert cells == {(k, c, f) for k, c in (("single", 1), ("single", 2), ("batch64", 2))
                     for f in ("documented", "columns")}
    for r in result["rows"]:
        assert r["errors"] == 0 and r["layouts"] == r["requests"] * r["batch"], r["error_messages"]
    assert all(v > 0 for v in result["network"].values())
    assert set(result["ratios"]) >= {"http_columns_over_network", "ort_over_torch"}
