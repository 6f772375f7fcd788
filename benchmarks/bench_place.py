"""Design-space generation throughput: legal placements per second for one design on W worker processes.

    .venv/bin/python benchmarks/bench_place.py [--design ota1] [--count 4096] [--workers 2] [--repeats 3]

Each run is a full `generate_space` call (global placement, legalization, pins, worker start-up included) on a
seeded sample of `count` subsets, checked legal. Prints every run and the median, as JSON lines: wall-clock
placements/s and placements per CPU-second (user + system of all processes; the figure to trust on a shared
machine, where other jobs steal cores from the wall clock) and the 1-minute load average before and after each
run, so a wall-clock figure can be read against the machine's other work. `--count 0` places the full 2^k
space. Worker processes use 1 torch thread each (the ops are small: threads only wait).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from dataclasses import replace
from pathlib import Path

from placeq.domain import Circuit
from training.placer.config import PlacerConfig
from training.placer.legality import check_legal
from training.placer.space import generate_space


def load(name_or_path: str) -> Circuit:
    path = Path(name_or_path)
    if path.is_file():
        return Circuit.model_validate_json(path.read_text())
    from placeq.circuits import load_design

    circuit: Circuit = load_design(name_or_path)
    return circuit


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the worker processes)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--design", default="ota1", help="built-in design or circuit JSON")
    ap.add_argument("--count", type=int, default=4096, help="placements per run (0: the full 2^k space)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--config", type=Path, default=None, help="placer parameters JSON")
    args = ap.parse_args()
    circuit = load(args.design)
    base = PlacerConfig.from_json(args.config) if args.config else PlacerConfig()
    config = replace(base, workers=args.workers, threads=1, batch_size=args.batch_size)
    rates: list[float] = []
    per_cpu: list[float] = []
    for run in range(args.repeats):
        load0 = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), _cpu_seconds()
        batch, _ = generate_space(circuit, count=args.count or None, seed=run, config=config)
        seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
        report = check_legal(batch, circuit, grid_um=config.grid_um, spacing_um=config.spacing_um)
        rates.append(len(batch) / seconds)
        print(json.dumps({"run": run, "placements": len(batch), "seconds": round(seconds, 2),
                          "per_s": round(rates[-1], 1), "cpu_s": round(cpu, 1),
                          "per_cpu_s": round(len(batch) / cpu, 1), "legal": bool(report.ok),
                          "load_before_after": [round(load0, 2), round(os.getloadavg()[0], 2)]}), flush=True)
        per_cpu.append(len(batch) / cpu)
    print(json.dumps({"design": circuit.name, "devices": len(circuit.devices), "workers": args.workers,
                      "batch_size": args.batch_size, "iterations": config.iterations,
                      "median_per_s": round(statistics.median(rates), 1),
                      "median_per_cpu_s": round(statistics.median(per_cpu), 1)}))


if __name__ == "__main__":
    main()
