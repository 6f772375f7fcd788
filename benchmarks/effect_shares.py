"""What makes a placement bad: each layout effect alone, per design (issue 13), and the gradient label's check.

    .venv/bin/python benchmarks/effect_shares.py --designs ota1,ota2,ota3,ota4 --count 1024 \
        --json docs/results/effect_shares.json --plot docs/img/effect_shares.png

For a seeded sample of each design space (`var/exp/<design>.parquet`), labels with every effect on, then with
one effect at a time (`Tech.effects`). Per effect: its variance share (variance of the metric with only that
effect on, over the sum of the single-effect variances; offset in mV, CMRR in dB), its rank correlation with the
full label, and how much of the full label's worst quartile it finds alone. A share says which effect moves
the metric across placements, not what a designer can fix.

`--linearity N`: also checks the rms-over-directions label against brute force on N placements of the first
design: 32 random gradients each (per-axis sigma = vth_grad), the mean square of the simulated metric against
the mean square of the three-run linear prediction at the same gradients.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from placeq.circuits import load_design
from simulate.label import label_batch, simulate_values
from simulate.netlist import build_template, layout_values
from simulate.techfile import EFFECTS, Tech, load_tech
from training.dataset import read_batch


def metric_of(table: Any) -> np.ndarray:
    """The label as the model sees it: |offset| in mV, or CMRR in dB."""
    return np.asarray(np.abs(table.value) * 1e3 if table.metric == "offset" else table.value, dtype=np.float64)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def worst(values: np.ndarray, metric: str) -> np.ndarray:
    """Boolean mask of the worst quartile by rank (largest offset, lowest CMRR); ties, such as the CMRR cap of a
    perfectly symmetric netlist, are broken at random (seeded), as a pruning rule would have to."""
    order = np.random.default_rng(0).permutation(len(values))
    key = -values[order] if metric == "offset" else values[order]
    mask = np.zeros(len(values), dtype=bool)
    mask[order[np.argsort(key, kind="stable")[: len(values) // 4]]] = True
    return mask


def shares(design: str, space: Path, count: int, seed: int, jobs: int, tech: Tech) -> dict[str, Any]:
    circuit = load_design(design)
    batch = read_batch(space)
    rows = np.sort(np.random.default_rng(seed).choice(len(batch), size=min(count, len(batch)), replace=False))
    batch = batch.take(rows)
    t0 = time.perf_counter()
    full = label_batch(circuit, batch, tech=tech, jobs=jobs)
    out: dict[str, Any] = {"design": design, "metric": full.metric, "count": len(rows), "seed": seed,
                           "failed_full": int((~full.ok).sum()), "effects": {}}
    full_v = metric_of(full)
    for effect in EFFECTS:
        alone = label_batch(circuit, batch, tech=dataclasses.replace(tech, effects=(effect,)), jobs=jobs)
        ok = full.ok & alone.ok
        v = metric_of(alone)
        both = worst(full_v[ok], full.metric)
        flat = np.ptp(v[ok]) < 1e-9 * max(1.0, float(np.abs(v[ok]).max()))  # the effect alone changes nothing
        found = float("nan") if flat else float((worst(v[ok], full.metric) & both).sum() / max(both.sum(), 1))
        out["effects"][effect] = {
            "variance": float(np.var(v[ok])), "worst_quartile_found": found,
            "spearman_with_full": float("nan") if flat else spearman(v[ok], full_v[ok]),
            "failed": int((~alone.ok).sum()), "median": float(np.median(v[ok])),
        }
    total = sum(e["variance"] for e in out["effects"].values()) or 1.0
    for e in out["effects"].values():
        e["share"] = e["variance"] / total
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps({k: v for k, v in out.items() if k != "effects"} | {
        "shares": {k: round(v["share"], 3) for k, v in out["effects"].items()}}), flush=True)
    return out


def linearity(design: str, space: Path, count: int, seed: int, tech: Tech) -> dict[str, Any]:
    circuit = load_design(design)
    batch = read_batch(space)
    rows = np.sort(np.random.default_rng(seed + 1).choice(len(batch), size=count, replace=False))
    batch = batch.take(rows)
    template, routing = build_template(circuit, batch, tech)
    ac = circuit.testbench is not None and circuit.testbench.metric == "cmrr"
    s, ratio = tech.vth_grad, tech.beta_grad / tech.vth_grad

    def run(g: tuple[float, float]) -> list[complex]:
        values = layout_values(circuit, batch, routing, tech, g, (g[0] * ratio, g[1] * ratio))
        return [r.cm if ac else complex(r.offset, 0.0) for r in simulate_values(template, values, ac=ac)]

    m0, mx, my = (np.array(run(g)) for g in ((0.0, 0.0), (s, 0.0), (0.0, s)))
    draws = np.random.default_rng(seed + 2).normal(0.0, 1.0, size=(32, 2))
    brute = np.array([run((gx * s, gy * s)) for gx, gy in draws])  # (32, count)
    linear = m0[None, :] + draws[:, :1] * (mx - m0)[None, :] + draws[:, 1:] * (my - m0)[None, :]
    ms_brute, ms_linear = (np.abs(brute) ** 2).mean(axis=0), (np.abs(linear) ** 2).mean(axis=0)
    rel = np.abs(np.sqrt(ms_brute) / np.sqrt(ms_linear) - 1)
    err = np.abs(brute - linear) / np.maximum(np.abs(brute - m0[None, :]), 1e-12)
    out = {"design": design, "placements": count, "draws": 32, "rms_rel_error_max": float(rel.max()),
           "rms_rel_error_median": float(np.median(rel)),
           "gradient_term_rel_error_median": float(np.median(err))}
    print(json.dumps(out), flush=True)
    return out


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 0.7 + 0.6 * len(results)))
    colours = {"gradient": "#4c72b0", "wpe": "#dd8452", "lod": "#55a868", "wires": "#c44e52"}
    for row, res in enumerate(results):
        left = 0.0
        for effect in EFFECTS:
            share = res["effects"][effect]["share"]
            ax.barh(row, share, left=left, color=colours[effect], label=effect if row == 0 else None)
            if share > 0.06:
                ax.text(left + share / 2, row, f"{share:.0%}", ha="center", va="center", color="white", fontsize=8)
            left += share
    ax.set_yticks(range(len(results)), [f"{r['design']} ({r['metric']})" for r in results])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the label's variance with one effect on at a time")
    ax.legend(ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.35 if len(results) < 3 else -0.2), frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--designs", default="ota1,ota2,ota3,ota4")
    parser.add_argument("--spaces", default="var/exp/{design}.parquet", help="design-space file pattern")
    parser.add_argument("--count", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--tech", type=Path, default=None)
    parser.add_argument("--linearity", type=int, default=0, help="placements for the brute-force check")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    tech = load_tech(args.tech)
    designs = args.designs.split(",")
    load = os.getloadavg()
    results = [shares(d, Path(args.spaces.format(design=d)), args.count, args.seed, args.jobs, tech)
               for d in designs]
    checks = [linearity(d, Path(args.spaces.format(design=d)), args.linearity, args.seed, tech)
              for d in designs] if args.linearity else []
    if args.plot:
        plot(results, args.plot)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"tech": tech.to_dict(), "load_before": load, "load_after": os.getloadavg(),
                                         "designs": results, "linearity": checks}, indent=1) + "\n")


if __name__ == "__main__":
    main()
