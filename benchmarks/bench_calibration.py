"""Prune decisions across design spaces (issue 14, part 4): does a threshold carry from one placer seed to another?

    .venv/bin/python benchmarks/bench_calibration.py --designs ota2,ota3,ota4 --seeds 0,5,7 \\
        --out benchmarks/results/bench_calibration.json

Needs, per design D and seed S, ``var/cal/D_sS.parquet`` (``placeq place --design D --count 1024 --seed S``) and
``var/cal/D_sS.labels.parquet`` (``placeq simulate``); each space is labelled by its own worst 25%. The model
(default: the shipped base, service/assets/base_model) scores every space in onnxruntime, and each rule decides:

- ``stored``: the model's stored threshold.
- ``labelled``: the threshold calibrated from 16 labelled layouts of the calibration space (seed
  ``--calibrate-seed``; values relabelled by their own worst 25%, as a fine-tune job does): the quantile of their
  scores at their bad share (`training.calibration.calibrate_labelled`); ``--draws`` random draws of 16, reported
  as the median and the range over draws.
- ``placed``: the quantile at the same bad share of the scores of a seeded placer sample of the design
  (`training.calibration.placed_scores`, ``--placed-count`` layouts, seed ``--calibrate-seed``).
- ``rate``: ``/predict``'s ``prune_rate`` 0.25 (`placeq.decision.prune_mask`), within shuffled batches of
  ``--batch`` layouts (the API's default batch limit is 256).

Per space: the realized prune rate and FOR (bad layouts kept / layouts kept). Prints a markdown table and the
1-minute load average before and after.

With ``--finetune-runs N`` the same is measured for what a fine-tune job publishes: N times per design, 16
layouts of the calibration space with their values fine-tune the base (`training.pipeline.fit_model`, the job's
options: recipe auto, the default epochs), and the fine-tuned model is calibrated by both rules on those 16
labels (the ``labelled`` rule now quantiles scores of the layouts it was trained on); median and range over runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from placeq.artifact import KEY_THRESHOLD
from placeq.circuits import load_design
from placeq.decision import prune_mask
from placeq.features import rasterize_batch
from placeq.labels import critical_value, label_array, relabel
from training.calibration import calibrate_labelled, calibrate_placed, onnx_scorer, placed_scores, score_batch
from training.dataset import read_batch
from training.feed import load_labels, read_values


def space_scores(model_dir: Path, data: Path) -> np.ndarray:
    return score_batch(onnx_scorer(model_dir), read_batch(data))


def decide(prune: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Realized prune rate and FOR over the labelled layouts."""
    used = y >= 0
    p, yy = prune[used], y[used]
    kept = ~p
    return {"prune_rate": float(p.mean()), "for": float(yy[kept].mean()) if kept.any() else 0.0}


def rate_in_batches(scores: np.ndarray, rate: float, batch: int, seed: int) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(len(scores))
    prune = np.zeros(len(scores), dtype=bool)
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        prune[rows] = prune_mask(scores[rows], 0.5, rate)
    return prune


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=Path("service/assets/base_model"))
    ap.add_argument("--designs", default="ota2,ota3,ota4")
    ap.add_argument("--seeds", default="0,5,7")
    ap.add_argument("--data", type=Path, default=Path("var/cal"))
    ap.add_argument("--calibrate-seed", type=int, default=0)
    ap.add_argument("--shots", type=int, default=16)
    ap.add_argument("--draws", type=int, default=40)
    ap.add_argument("--placed-count", type=int, default=512)
    ap.add_argument("--rate", type=float, default=0.25)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--finetune-runs", type=int, default=0, help="fine-tuned models per design (0: none)")
    ap.add_argument("--epochs", type=int, default=0, help="fine-tune epochs (0: the job's default)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    t0 = time.time()
    meta = json.loads((args.model / "model.json").read_text())
    stored = float(meta.get(KEY_THRESHOLD, meta.get("threshold", 0.5)))
    seeds = [int(s) for s in args.seeds.split(",")]
    rows: list[dict[str, Any]] = []
    for design in args.designs.split(","):
        circuit = load_design(design)
        spaces: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, str]] = {}
        for s in seeds:
            stem = args.data / f"{design}_s{s}"
            values, metric = read_values(stem.with_suffix(".labels.parquet"))
            y = label_array(values, metric, "quartile", 0.25)  # what load_labels makes of it, without a re-read
            spaces[s] = (space_scores(args.model, stem.with_suffix(".parquet")), y, values, metric)
        cal_scores, _, cal_values, metric = spaces[args.calibrate_seed]
        rng = np.random.default_rng(1)
        ok = np.flatnonzero(np.isfinite(cal_values))
        draws = []
        for _ in range(args.draws):
            pick = rng.choice(ok, size=args.shots, replace=False)
            v = cal_values[pick]
            labels = relabel(v, critical_value(v, metric), metric)
            draws.append(calibrate_labelled(cal_scores[pick], labels, previous=stored))
        share = statistics.median(c.bad_share for c in draws)
        placed = calibrate_placed(
            placed_scores(circuit, onnx_scorer(args.model), nofeat=False, count=args.placed_count,
                          seed=args.calibrate_seed),
            np.array([1] * round(share * args.shots) + [0] * (args.shots - round(share * args.shots))),
            previous=stored, seed=args.calibrate_seed)
        for s, (scores, y, _, _) in spaces.items():
            per_draw = [decide(scores >= c.threshold, y) for c in draws]
            rows.append({
                "design": design, "seed": s, "n": int((y >= 0).sum()), "bad_share": float((y[y >= 0] == 1).mean()),
                "stored": {"threshold": stored, **decide(scores >= stored, y)},
                "labelled": {
                    "threshold_median": statistics.median(c.threshold for c in draws),
                    "threshold_range": [min(c.threshold for c in draws), max(c.threshold for c in draws)],
                    **{f"{k}_median": statistics.median(d[k] for d in per_draw) for k in ("prune_rate", "for")},
                    **{f"{k}_range": [min(d[k] for d in per_draw), max(d[k] for d in per_draw)]
                       for k in ("prune_rate", "for")},
                },
                "placed": {"threshold": placed.threshold, "n_scored": placed.n_scored,
                           **decide(scores >= placed.threshold, y)},
                "rate": {"prune_rate_asked": args.rate, "batch": args.batch,
                         **decide(rate_in_batches(scores, args.rate, args.batch, seed=s), y)},
                "rate_whole_space": decide(prune_mask(scores, stored, args.rate), y),
            })
    finetuned = [row for design in args.designs.split(",") for row in finetune_rows(args, design, seeds)] \
        if args.finetune_runs else []
    result = {"args": {k: str(v) for k, v in vars(args).items()}, "stored_threshold": stored, "finetuned": finetuned,
              "load_before": load_before, "load_after": os.getloadavg()[0], "seconds": time.time() - t0,
              "rows": rows}
    print(table(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


def finetune_rows(args: argparse.Namespace, design: str, seeds: list[int]) -> list[dict[str, Any]]:
    """Fine-tune the base on 16 labelled layouts of the calibration space, calibrate, decide on every space."""
    import copy

    from placeq.recipes import DEFAULT_EPOCHS
    from training.checkpoint import load_checkpoint
    from training.fit import predict_proba
    from training.pipeline import Options, all_rows, fit_model
    from training.placer.config import PlacerConfig
    from training.placer.space import distinct_rows, generate_space

    base = load_checkpoint(args.model)
    circuit = load_design(design)
    placed_batch, _ = generate_space(circuit, count=args.placed_count, seed=args.calibrate_seed,
                                     config=PlacerConfig(workers=1))
    x_placed = rasterize_batch(placed_batch.take(distinct_rows(placed_batch))).astype(np.float16)
    spaces = {}
    for s in seeds:
        stem = args.data / f"{design}_s{s}"
        spaces[s] = (rasterize_batch(read_batch(stem.with_suffix(".parquet"))).astype(np.float16),
                     load_labels(stem.with_suffix(".labels.parquet")))
    values, metric = read_values(args.data / f"{design}_s{args.calibrate_seed}.labels.parquet")
    x_cal = spaces[args.calibrate_seed][0]
    ok = np.flatnonzero(np.isfinite(values))
    rng = np.random.default_rng(2)
    options = Options(epochs=args.epochs or DEFAULT_EPOCHS, recipe="auto", threads=2)
    runs: list[dict[int, dict[str, dict[str, float]]]] = []
    recipes: list[str | None] = []
    for run in range(args.finetune_runs):
        pick = rng.choice(ok, size=args.shots, replace=False)
        v = values[pick]
        labels = relabel(v, critical_value(v, metric), metric).astype(np.int64)
        x16 = np.asarray(x_cal[pick], dtype=np.float32)
        fitted = fit_model(copy.deepcopy(base.model), x16, labels, all_rows(args.shots), options, finetune=True,
                           default_threshold=base.threshold, values=v, metric=metric)
        model = fitted.model.cpu()

        def score(x: np.ndarray, model: Any = model) -> np.ndarray:
            return predict_proba(model, x)

        lab = calibrate_labelled(score(x16), labels, previous=fitted.threshold)
        pla = calibrate_placed(score(x_placed), labels, previous=fitted.threshold, seed=args.calibrate_seed)
        per_space = {}
        for s, (x, y) in spaces.items():
            scores = score(x)
            per_space[s] = {
                "stored": decide(scores >= fitted.threshold, y),
                "labelled": decide(scores >= lab.threshold, y),
                "placed": decide(scores >= pla.threshold, y),
                "rate": decide(rate_in_batches(scores, args.rate, args.batch, seed=s), y),
            }
        print(f"{design} run {run}: recipe {fitted.recipe}, thresholds labelled {lab.threshold:.3f} placed "
              f"{pla.threshold:.3f}", flush=True)
        runs.append(per_space)
        recipes.append(fitted.recipe)
    rows = []
    for s in seeds:
        row: dict[str, Any] = {"design": design, "seed": s, "runs": len(runs),
                               "recipes": sorted(set(map(str, recipes)))}
        for rule in ("stored", "labelled", "placed", "rate"):
            for k in ("prune_rate", "for"):
                vals = [r[s][rule][k] for r in runs]
                row[f"{rule}_{k}_median"] = statistics.median(vals)
                row[f"{rule}_{k}_range"] = [min(vals), max(vals)]
        rows.append(row)
    return rows


def finetune_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| design | seed | " + " | ".join(f"{rule}: pruned | FOR" for rule in ("stored", "labelled", "placed",
                                                                                   "rate 0.25")) + " |",
             "|---|---:|" + "---|" * 8]
    for r in rows:
        cells = []
        for rule in ("stored", "labelled", "placed", "rate"):
            for k in ("prune_rate", "for"):
                lo, hi = r[f"{rule}_{k}_range"]
                cells.append(f"{pct(r[f'{rule}_{k}_median'])} [{pct(lo)}..{pct(hi)}]")
        lines.append(f"| {r['design']} | {r['seed']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def table(result: dict[str, Any]) -> str:
    lines = [
        "| design | seed | stored 0.5: pruned / FOR | labelled (16, seed 0): threshold | pruned | FOR "
        "| placed: threshold | pruned / FOR | rate 0.25: pruned / FOR |",
        "|---|---:|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        st, lab, pl, ra = r["stored"], r["labelled"], r["placed"], r["rate"]
        lines.append(
            f"| {r['design']} | {r['seed']} | {pct(st['prune_rate'])} / {pct(st['for'])} "
            f"| {lab['threshold_median']:.3f} [{lab['threshold_range'][0]:.3f}..{lab['threshold_range'][1]:.3f}] "
            f"| {pct(lab['prune_rate_median'])} [{pct(lab['prune_rate_range'][0])}..{pct(lab['prune_rate_range'][1])}] "
            f"| {pct(lab['for_median'])} [{pct(lab['for_range'][0])}..{pct(lab['for_range'][1])}] "
            f"| {pl['threshold']:.3f} | {pct(pl['prune_rate'])} / {pct(pl['for'])} "
            f"| {pct(ra['prune_rate'])} / {pct(ra['for'])} |"
        )
    if result["finetuned"]:
        lines.append("\nFine-tuned on 16 labelled layouts of the calibration space (median [range] over runs):\n")
        lines.append(finetune_table(result["finetuned"]))
    lines.append(f"\nload average {result['load_before']:.2f} -> {result['load_after']:.2f}, "
                 f"{result['seconds']:.0f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
