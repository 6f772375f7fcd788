"""onnxruntime's CPU arena on or off, for a session made like `service.scoring.make_session`: CPU time and RSS.

    .venv/bin/python benchmarks/bench_load_arena.py

Each (model, arena) pair runs in a fresh child process so RSS is its own: the median CPU ms of a batch-1, -8 and
-64 run (one thread), then RSS after warm-up, after those sequential runs, and after three rounds of 4 threads
running batch 64 at once (what concurrent requests do to one shared session without `run_slots`). Why the service
keeps the arena and bounds runs in flight instead (docs/performance.md).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from bench_load import REPO, SHIPPED


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(onnx: str, arena: bool) -> dict[str, object]:
    import onnxruntime as ort

    so = ort.SessionOptions()  # as service.scoring.make_session, plus the arena switch
    so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.enable_cpu_mem_arena = arena
    session = ort.InferenceSession(onnx, so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((64, 18, 64, 64), dtype=np.float32)  # (B, C, H, W)
    for b in (1, 8, 64):
        session.run(["probability"], {"features": x[:b]})
    warm = rss_mb()
    cpu = {}
    for b, n in ((1, 60), (8, 15), (64, 5)):
        times = []
        for _ in range(n):
            c0 = time.process_time()
            session.run(["probability"], {"features": x[:b]})
            times.append(time.process_time() - c0)
        cpu[b] = 1e3 * statistics.median(times)
    sequential = rss_mb()
    rounds = []
    for _ in range(3):
        threads = [
            threading.Thread(target=lambda: [session.run(["probability"], {"features": x}) for _ in range(2)])
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rounds.append(rss_mb())
    return {"cpu_ms": cpu, "rss_warm_mb": warm, "rss_sequential_mb": sequential, "rss_concurrent_mb": rounds}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3] == "on")))
        return
    load_start = os.getloadavg()[0]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        export = f"import bench_load as b; b.export_feat3d(b.Path({tmp!r}), b.placement_variants(16))"
        subprocess.run([sys.executable, "-c", export], cwd=Path(__file__).parent, check=True)
        models = {"fast3d": SHIPPED / "model.onnx", "feat3d": Path(tmp) / "feat3d" / "model.onnx"}
        for model, onnx in models.items():
            for arena in ("on", "off"):
                cmd = [sys.executable, __file__, "--child", str(onnx), arena]
                rows[f"{model} arena {arena}"] = json.loads(subprocess.run(cmd, capture_output=True, check=True).stdout)
    print(f"load average {load_start:.2f} -> {os.getloadavg()[0]:.2f}\n")
    print("| model, arena | CPU ms b1 | b8 | b64 | RSS warm MB | after sequential | after 3 x 4 concurrent b64 |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        c = r["cpu_ms"]
        conc = ", ".join(f"{m:.0f}" for m in r["rss_concurrent_mb"])
        print(
            f"| {name} | {c['1']:.2f} | {c['8']:.1f} | {c['64']:.0f} | {r['rss_warm_mb']:.0f} | "
            f"{r['rss_sequential_mb']:.0f} | {conc} |"
        )
    out = REPO / "benchmarks" / "results" / "bench_load_arena.json"
    out.write_text(json.dumps({"load": [load_start, os.getloadavg()[0]], "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
