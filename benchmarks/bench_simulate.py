"""Labelled placements per second, from placement arrays to a stored label file (netlists built on the way).

    .venv/bin/python benchmarks/bench_simulate.py --jobs 2 --count 4096 --repeat 3
    .venv/bin/python benchmarks/bench_simulate.py --jobs 2 --count 4096 --repeat 5 --before 197bf50 \
        --json benchmarks/results/bench_simulate_before_after.json    # labels/s of another revision, alternated
    .venv/bin/python benchmarks/bench_simulate.py --space var/sim/ota1_space.parquet --design ota1   # Fig. 1


Placements: random but legal (every device's footprint packed left to right into rows, in a random order per
placement), so every netlist differs; the placer's own design spaces cost the same per placement. No cache.
Prints one JSON line per design with the median over repeats.

`--before REV`: the labeller of git revision REV (its `placeq` and `simulate`, unpacked with `git archive` into a
temporary directory) against this working tree, each run in a fresh interpreter, the two alternating run by run
so both see the same machine load; reports both medians, their ratio, the largest label difference between the
two (offset V, CMRR dB, failed rows must match) and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from placeq.circuits import BUILTIN_DESIGNS, load_design
from simulate.label import label_batch, write_labels
from simulate.nominal import row_placements
from training.heuristics import false_omission_rate, hpwl, pair_distance


def space(path: Path, name: str, jobs: int, plot: Path | None) -> None:
    """Label a whole design space, plot its distribution (paper Fig. 1), score two heuristics by FOR."""
    from placeq.labels import worst_quartile
    from training.dataset import read_batch

    circuit = load_design(name)
    batch = read_batch(path)
    start = time.perf_counter()
    table = label_batch(circuit, batch, jobs=jobs, cache="var/cache/labels.sqlite")
    seconds = time.perf_counter() - start
    ok = table.ok
    bad = worst_quartile(table.value[ok], table.metric) == 1
    b = batch.take(np.flatnonzero(ok))
    result = {
        "design": name, "placements": len(batch), "failed": int((~ok).sum()), "seconds": round(seconds, 1),
        "simulated": table.simulated, "FOR_random": 0.25,
        "FOR_hpwl": round(false_omission_rate(hpwl(b), bad), 4),
        "FOR_pair_distance": round(false_omission_rate(pair_distance(b, circuit), bad), 4),
    }
    values = np.abs(table.value[ok]) * 1e3 if table.metric == "offset" else table.value[ok]
    result["p25_p50_p75"] = [round(float(v), 4) for v in np.percentile(values, [25, 50, 75])]
    print(json.dumps(result))
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.2), dpi=110)
        ax.hist(values, bins=80, color="#4a7ab5")
        border = np.percentile(values, 75 if table.metric == "offset" else 25)
        ax.axvline(border, color="#c0392b", lw=1.2, label="worst 25% border")
        ax.set_xlabel("|input-referred offset| (mV)" if table.metric == "offset" else "CMRR at 10 Hz (dB)")
        ax.set_ylabel("placements")
        ax.set_title(f"{circuit.name}: {ok.sum()} placements (ngspice, BSIM4)", fontsize=9)
        ax.legend(frameon=False)
        fig.tight_layout()
        plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(plot)


def one_run(name: str, count: int, jobs: int, chunk_size: int, out: Path) -> None:
    """Child of --before: label once, print the rate, keep the labels for the comparison."""
    circuit = load_design(name)
    batch = row_placements(circuit, count, seed=0, gap_um=0.4)
    start = time.perf_counter()
    table = label_batch(circuit, batch, jobs=jobs, chunk_size=chunk_size)
    write_labels(table, out)
    print(json.dumps({"labels_per_s": len(batch) / (time.perf_counter() - start)}))


def before_after(args: argparse.Namespace) -> None:
    import pyarrow.parquet as pq

    root = Path(__file__).resolve().parents[1]
    results = []
    with tempfile.TemporaryDirectory(prefix="placeq-before-") as tmp:
        old = Path(tmp) / "src"
        old.mkdir()
        archive = subprocess.run(["git", "-C", str(root), "archive", args.before, "placeq", "simulate"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        load_start = os.getloadavg()
        for name in args.designs.split(","):
            rates: dict[str, list[float]] = {"before": [], "after": []}
            for k in range(args.repeat):
                for side in ("before", "after") if k % 2 == 0 else ("after", "before"):
                    env = dict(os.environ, PYTHONPATH=str(old) if side == "before" else str(root))
                    out = Path(tmp) / f"{name}_{side}.parquet"
                    run = subprocess.run(
                        [sys.executable, __file__, "--one", name, "--count", str(args.count), "--jobs", str(args.jobs),
                         "--chunk-size", str(args.chunk_size), "--out", str(out)],
                        capture_output=True, text=True, check=True, env=env, cwd=tmp)
                    rates[side].append(json.loads(run.stdout.strip().splitlines()[-1])["labels_per_s"])
            a, b = (pq.read_table(Path(tmp) / f"{name}_{s}.parquet").to_pydict() for s in ("before", "after"))
            ok_a, ok_b = np.array(a["status"]) == "ok", np.array(b["status"]) == "ok"
            both = ok_a & ok_b
            med = {s: statistics.median(v) for s, v in rates.items()}
            row = {
                "design": name, "placements": args.count, "jobs": args.jobs, "repeat": args.repeat,
                "before_labels_per_s": round(med["before"]), "after_labels_per_s": round(med["after"]),
                "ratio": round(med["after"] / med["before"], 3),
                "runs_before": [round(r) for r in rates["before"]], "runs_after": [round(r) for r in rates["after"]],
                "failed_before": int((~ok_a).sum()), "failed_after": int((~ok_b).sum()),
                "same_failures": bool((ok_a == ok_b).all() and a["reason"] == b["reason"]),
                "max_offset_diff_v": float(np.max(np.abs(np.array(a["offset_v"])[both] - np.array(b["offset_v"])[both]),
                                                  initial=0.0)),
                "max_cmrr_diff_db": float(np.nanmax(np.abs(np.array(a["cmrr_db"], dtype=float)[both]
                                                           - np.array(b["cmrr_db"], dtype=float)[both]), initial=0.0)),
            }
            print(json.dumps(row), flush=True)
            results.append(row)
    summary = {"before": args.before, "after": "working tree", "load_average_start": load_start,
               "load_average_end": os.getloadavg(), "cpus": os.cpu_count(), "designs": results}
    print(json.dumps({k: v for k, v in summary.items() if k != "designs"}))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", type=Path, default=None, help="label this design-space file instead")
    parser.add_argument("--design", default="ota1", help="design of --space")
    parser.add_argument("--plot", type=Path, default=None, help="histogram PNG of --space")
    parser.add_argument("--designs", default=",".join(BUILTIN_DESIGNS))
    parser.add_argument("--count", type=int, default=4096)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--before", default=None, help="git revision whose labeller to compare against")
    parser.add_argument("--json", type=Path, default=None, help="write the --before comparison here")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        one_run(args.one, args.count, args.jobs, args.chunk_size, args.out)
        return
    if args.before is not None:
        before_after(args)
        return
    if args.space is not None:
        space(args.space, args.design, args.jobs, args.plot)
        return
    for name in args.designs.split(","):
        circuit = load_design(name)
        batch = row_placements(circuit, args.count, seed=0, gap_um=0.4)
        rates, failed = [], 0
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                table = label_batch(circuit, batch, jobs=args.jobs, chunk_size=args.chunk_size)
                write_labels(table, Path(tmp) / "labels.parquet")
                rates.append(len(batch) / (time.perf_counter() - start))
                failed = int((~table.ok).sum())
        rate = statistics.median(rates)
        print(json.dumps({
            "design": name, "devices": len(circuit.devices), "metric": table.metric, "placements": len(batch),
            "jobs": args.jobs, "labels_per_s": round(rate), "ms_per_label_per_core": round(args.jobs / rate * 1e3, 2),
            "failed": failed, "offset_mv_p50": round(float(np.nanmedian(np.abs(table.offset))) * 1e3, 3),
        }))


if __name__ == "__main__":
    main()
