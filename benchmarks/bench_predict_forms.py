"""/predict through real HTTP in both input forms, against the raw network in the same run (issue 15).

    .venv/bin/python benchmarks/bench_predict_forms.py                 # about 3 minutes
    .venv/bin/python benchmarks/bench_predict_forms.py --quick         # smoke run (tests/benchmarks/)

One `placeq serve --no-worker` on loopback with the shipped model and the service defaults (PLACEQ_ORT_THREADS=1,
concurrency from callers); the client is `bench_load`'s closed-loop httpx2 driver. Cells: 1 layout a call with
1 and 2 callers, 64 a call with 2 callers, each in the documented form (`placement` / `placements`) and the
columnar one (`columns`). Then, in this process, the raw network at batch 64 and 2 threads: the shipped ONNX
file in onnxruntime as the service makes its session, the same weights exported with the 3D body as it was
before (``fold=False``), and torch. Throughput is layouts / measured seconds; latencies are percentiles of the
pooled calls; the network figures are batch / median seconds of `--repeats` runs. Ratios are of figures from
this one run. The 1-minute load average is recorded before and after each cell.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_load import CONFIGS, SHIPPED, Phase, machine, measure, placement_variants, serve

from placeq.batch import PlacementBatch
from placeq.columns import columns_of
from placeq.domain import Placement
from placeq.features import rasterize_batch

RESULTS = Path(__file__).resolve().parent / "results" / "bench_predict_forms.json"
CELLS = (("single", 1, 1), ("single", 2, 1), ("batch64", 2, 64))  # (kind, callers, layouts a call)


def bodies(n_pool: int, size: int) -> dict[str, list[bytes]]:
    """`n_pool` request bodies of `size` distinct placements each, in both forms (the same placements)."""
    variants = placement_variants(n_pool * size, seed=0)
    out: dict[str, list[bytes]] = {"documented": [], "columns": []}
    for i in range(n_pool):
        items = variants[i * size : (i + 1) * size]
        doc = {"placement": items[0]} if size == 1 else {"placements": items}
        batch = PlacementBatch.from_placements([Placement.model_validate(p) for p in items])
        out["documented"].append(json.dumps(doc, separators=(",", ":")).encode())
        out["columns"].append(json.dumps({"columns": columns_of(batch)}, separators=(",", ":")).encode())
    return out


def _median_s(fn: Callable[[], object], warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def raw_network(threads: int, repeats: int) -> dict[str, float]:
    """Layouts/s at batch 64: the shipped ONNX in the service's session, the unfolded export, and torch."""
    import torch

    from service.scoring import make_session
    from training.checkpoint import load_checkpoint
    from training.export import INPUT_NAME, export_onnx

    x = rasterize_batch(PlacementBatch.from_placements([Placement.model_validate(p) for p in placement_variants(64)]))
    net = load_checkpoint(SHIPPED).model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        unfolded = export_onnx(net, Path(tmp) / "m.onnx", sample=x[:16], fold=False).path.read_bytes()
    row: dict[str, float] = {}
    for name, blob in (("ort", (SHIPPED / "model.onnx").read_bytes()), ("ort_unfolded", unfolded)):
        session = make_session(blob, threads=threads)
        row[name] = len(x) / _median_s(lambda: session.run(None, {INPUT_NAME: x}), 3, repeats)  # noqa: B023
    torch.set_num_threads(threads)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        row["torch"] = len(x) / _median_s(lambda: net(xt), 3, repeats)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: a few calls a cell, few network repeats")
    p.add_argument("--seconds", type=float, default=12.0, help="measured seconds a cell")
    p.add_argument("--repeats", type=int, default=30, help="timed network runs")
    p.add_argument("--threads", type=int, default=2, help="threads of the raw-network comparison")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    seconds, warm = (0.0, 0.0) if args.quick else (args.seconds, 3.0)
    pool = {size: bodies(4 if args.quick else 16, size) for size in {c[2] for c in CELLS}}
    load = [os.getloadavg()]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, serve(SHIPPED, CONFIGS["callers"], Path(tmp)) as server:
        for kind, callers, size in CELLS:
            for form in ("documented", "columns"):
                pool_bodies = pool[size][form]

                def body(i: int, b: list[bytes] = pool_bodies, n: int = size) -> tuple[bytes, int]:
                    return b[i % len(b)], n

                need = 8 if args.quick else (150 if size == 1 else 30)
                row = measure(server, callers, body, Phase(seconds=warm, min_requests=2), Phase(seconds, need))
                row.pop("latencies_ms")
                row["server_cpu_ms_per_layout"] = 1e3 * row["server_cpu_s"] / max(1, row["layouts"])
                rows.append({"kind": kind, "callers": callers, "batch": size, "form": form, **row})
                print(f"{kind:8} callers {callers} {form:10} p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms"
                      f"  {row['layouts_per_s']:7.0f} layouts/s  server {row['server_cpu_ms_per_layout']:.2f} ms/layout"
                      f"  errors {row['errors']}", flush=True)
    load.append(os.getloadavg())
    net = raw_network(args.threads, 3 if args.quick else args.repeats)
    load.append(os.getloadavg())
    batch = {r["form"]: r["layouts_per_s"] for r in rows if r["kind"] == "batch64"}
    ratios = {
        "http_columns_over_network": batch["columns"] / net["ort"],
        "http_documented_over_network": batch["documented"] / net["ort"],
        "http_columns_over_documented": batch["columns"] / batch["documented"],
        "ort_over_torch": net["ort"] / net["torch"],
        "ort_unfolded_over_torch": net["ort_unfolded"] / net["torch"],
        "ort_over_ort_unfolded": net["ort"] / net["ort_unfolded"],
    }
    figures = ", ".join(f"{k} {v:,.0f}" for k, v in net.items())
    print(f"network, batch 64, {args.threads} threads (layouts/s): {figures}")
    print("ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    print("load average (1, 5, 15 min) start / after HTTP / end: " + " / ".join(
        ", ".join(f"{x:.2f}" for x in la) for la in load))
    result = {"machine": machine(), "quick": args.quick, "rows": rows, "network": net, "network_threads": args.threads,
              "ratios": ratios, "load_average": load}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=float) + "\n")
    if any(r["errors"] for r in rows):
        raise SystemExit("some calls failed: " + json.dumps([r["error_messages"] for r in rows if r["errors"]]))


if __name__ == "__main__":
    main()
