"""Throughput of the placement-quality CNNs: onnxruntime (what the service runs) and torch, batch 64, 1 and 2 threads.

    .venv/bin/python benchmarks/bench_models.py                # fast3d vs feat3d
    .venv/bin/python benchmarks/bench_models.py --archs all --repeats 30

Each model is exported with `training.export.export_onnx` (the verified production path) to a temporary folder,
and once more with ``fold=False`` (a 3D body as Conv3d, as exported before issue 15: the ``ort3d`` columns).
A measurement is the median over `--repeats` timed runs of one batch after `--warmup` runs; layouts/s =
batch / median seconds. Weights are random (throughput does not depend on them); inputs are synthetic layouts
from `training.synthetic.synthetic_task`. The 1-minute load average is printed: wall-clock numbers taken while other
processes share the cores are depressed; ``ort_cpu_t1`` (layouts per CPU-second of the single-threaded session,
which runs on the calling thread) is much less sensitive to that.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from training.export import INPUT_NAME, export_onnx
from training.nets import ARCHITECTURES, PlacementNet, count_parameters
from training.synthetic import synthetic_task


def macs_per_layout(model: PlacementNet) -> int:
    """Multiply-accumulates of the convolutions and dense layers for one layout (forward hooks)."""
    total = 0

    def hook(module: nn.Module, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d | nn.Conv3d):
            per_out = module.in_channels // module.groups * int(np.prod(module.kernel_size))
            total += out[0].numel() * per_out
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    handles = [
        m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Conv3d | nn.Linear)
    ]
    with torch.no_grad():
        model(torch.zeros(1, *model.config.input_shape))
    for h in handles:
        h.remove()
    return total


def _median_seconds(fn: Callable[[], object], warmup: int, repeats: int) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds of this process) per call."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def bench(arch: str, batch: int, threads: list[int], warmup: int, repeats: int, folder: Path) -> dict[str, float]:
    torch.manual_seed(0)
    model = ARCHITECTURES[arch]().eval()
    x, _ = synthetic_task(batch, seed=0, nofeat=model.config.input_kind == "nofeat")
    report = export_onnx(model, folder / f"{arch}.onnx", sample=x[:16])
    unfolded = export_onnx(model, folder / f"{arch}_3d.onnx", sample=x[:16], fold=False)
    row: dict[str, float] = {
        "params": count_parameters(model),
        "mmac": macs_per_layout(model) / 1e6,
        "onnx_kb": report.size_bytes / 1024,
    }
    xt = torch.from_numpy(x)
    for t in threads:
        so = ort.SessionOptions()
        so.intra_op_num_threads = t
        so.inter_op_num_threads = 1
        session = ort.InferenceSession(str(report.path), so, providers=["CPUExecutionProvider"])
        s, cpu = _median_seconds(lambda: session.run(None, {INPUT_NAME: x}), warmup, repeats)  # noqa: B023
        row[f"ort_t{t}"] = batch / s
        if t == 1:
            row["ort_cpu_t1"] = batch / cpu  # per CPU-second: robust to other processes sharing the cores
        session = ort.InferenceSession(str(unfolded.path), so, providers=["CPUExecutionProvider"])
        s, _ = _median_seconds(lambda: session.run(None, {INPUT_NAME: x}), warmup, repeats)  # noqa: B023
        row[f"ort3d_t{t}"] = batch / s
        torch.set_num_threads(t)
        with torch.no_grad():
            s, _ = _median_seconds(lambda: model(xt), warmup, repeats)
        row[f"torch_t{t}"] = batch / s
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="fast3d,feat3d", help="comma list or 'all'")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", default="1,2", help="comma list of intra-op thread counts")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    archs = list(ARCHITECTURES) if args.archs == "all" else args.archs.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    load_before = os.getloadavg()[0]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for arch in archs:
            rows[arch] = bench(arch, args.batch, threads, args.warmup, args.repeats, Path(tmp))
    cols = ["params", "mmac", "onnx_kb"] + [f"{k}_t{t}" for k in ("ort", "ort3d", "torch") for t in threads]
    if 1 in threads:
        cols.append("ort_cpu_t1")
    print(f"batch {args.batch}, median of {args.repeats}; load average {load_before:.2f} -> {os.getloadavg()[0]:.2f}")
    print("| arch | params | MMAC/layout | ONNX KB | " + " | ".join(f"{c} layouts/s" for c in cols[3:]) + " |")
    print("|" + "---|" * (len(cols) + 1))
    for arch, row in rows.items():
        cells = [f"{row['params']:,.0f}", f"{row['mmac']:.1f}", f"{row['onnx_kb']:.0f}"]
        cells += [f"{row[c]:,.0f}" for c in cols[3:]]
        print(f"| {arch} | " + " | ".join(cells) + " |")
    for arch, row in rows.items():
        for t in threads:
            print(f"{arch} at {t} thread(s): onnxruntime / torch {row[f'ort_t{t}'] / row[f'torch_t{t}']:.2f}, "
                  f"folded / 3D export {row[f'ort_t{t}'] / row[f'ort3d_t{t}']:.2f}")
    if "fast3d" in rows and "feat3d" in rows:
        for t in threads:
            ratio = rows["fast3d"][f"ort_t{t}"] / rows["feat3d"][f"ort_t{t}"]
            print(f"fast3d / feat3d onnxruntime throughput at {t} thread(s): {ratio:.1f}x")


if __name__ == "__main__":
    main()
