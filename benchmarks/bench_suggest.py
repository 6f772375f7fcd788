"""Which 16 layouts to label (issue 17): does choosing them (`placeq.suggest`) beat drawing them at random?

    .venv/bin/python benchmarks/bench_suggest.py --data-dir var/exp --targets ota2,ota3,ota4 --repeats 10 \\
        --out benchmarks/results/bench_suggest.json

The user's loop, per target design and repeat r (seeded): an explored pool of `--pool` layouts and a disjoint
test set of `--test` layouts are drawn from the labelled space (copies of one layout stay on one side); the base
model scores the pool; each strategy picks `--shots` of the pool; their values fine-tune a copy of the base as
`POST /finetune` does (gentle recipe, relabelled by their own worst 25%, fixed epochs); the fine-tuned model ranks
the test set, and we report the FOR at 25% pruned against the space's own worst 25% (what the user wants:
the truly bad layouts kept out). `random` is the baseline, and every strategy sees the same pool, test set and
fine-tuning seed in a repeat, so the comparison is paired.

Targets are built-in names or ``CIRCUIT.json:PLACEMENTS.parquet:LABELS.parquet`` (`training.corpus.design_source`);
the placements file must hold its subset ids (``placeq place`` without ``--distinct`` writes them).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from placeq.decision import prune_mask
from placeq.labels import critical_value, relabel, worst_quartile
from placeq.suggest import STRATEGIES, suggest
from training.checkpoint import load_checkpoint, weights_sha256
from training.corpus import design_source
from training.dataset import read_meta
from training.experiments import load_design
from training.feed import Rows
from training.fit import predict_proba
from training.heuristics import false_omission_rate
from training.pipeline import Options, fit_model

PRUNE = 0.25


def draw(n: int, groups: np.ndarray, pool: int, test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(pool rows, test rows), disjoint, with no layout's copy on both sides."""
    order = np.random.default_rng(seed).permutation(n)
    p = order[:pool]
    rest = order[pool:]
    t = rest[~np.isin(groups[rest], groups[p])][:test]
    return np.sort(p), np.sort(t)


def run_target(spec: str, args: argparse.Namespace, base_dir: Path) -> dict[str, Any]:
    data = load_design(args.data_dir, spec)
    src = design_source(spec, args.data_dir)
    subsets = np.asarray(read_meta(src.placements)["subset_ids"], dtype=np.int64)
    ok = np.isfinite(data.values)
    bad = worst_quartile(data.values, data.metric) == 1
    ckpt = load_checkpoint(base_dir)
    base_sha = weights_sha256(base_dir)[:12]
    rows: list[dict[str, Any]] = []
    for r in range(args.repeats):
        pool, test = draw(len(data.values), data.groups, args.pool, args.test, seed=r)
        pool, test = pool[ok[pool]], test[ok[test]]
        base_pool = predict_proba(ckpt.model, Rows(data.x, pool))
        base_test = predict_proba(ckpt.model, Rows(data.x, test))
        pruned = prune_mask(base_pool, ckpt.threshold, PRUNE)
        row: dict[str, Any] = {"repeat": r, "random_pruning": float(bad[test].mean()),
                               "base": false_omission_rate(base_test, bad[test], PRUNE),
                               "pair_distance": false_omission_rate(data.heuristics["pair_distance"][test],
                                                                    bad[test], PRUNE)}
        for strategy in args.strategies:
            picks = pool[suggest(base_pool, pruned, subsets[pool], args.shots, strategy=strategy, seed=r)]
            y = np.full(len(data.values), -1, dtype=np.int64)
            y[picks] = relabel(data.values[picks], critical_value(data.values[picks], data.metric), data.metric)
            model = copy.deepcopy(ckpt.model)
            options = Options(epochs=args.epochs, balanced=True, seed=r, threads=args.threads, recipe="gentle",
                              score_train=False)
            fit_model(model, data.x, y, {"train": picks}, options, finetune=True, values=data.values,
                      metric=data.metric)
            row[strategy] = false_omission_rate(predict_proba(model, Rows(data.x, test)), bad[test], PRUNE)
        rows.append(row)
        print(json.dumps({"target": data.name, **{k: round(v, 4) if isinstance(v, float) else v
                                                  for k, v in row.items()}}), flush=True)
    return {"target": data.name, "base_sha256": base_sha, "rows": rows}


def table(results: list[dict[str, Any]], strategies: list[str]) -> str:
    cols = ["random_pruning", "pair_distance", "base", *strategies]
    out = ["| target | " + " | ".join(cols) + " | " + " | ".join(f"{s} < random" for s in strategies
                                                                  if s != "random") + " |",
           "|---" * (1 + len(cols) + len(strategies) - ("random" in strategies)) + "|"]
    for res in results:
        rows = res["rows"]
        med = [f"{100 * statistics.median(r[c] for r in rows):.1f}" for c in cols]
        wins = [f"{sum(r[s] < r['random'] for r in rows)}/{sum(r[s] != r['random'] for r in rows)}"
                for s in strategies if s != "random"]
        out.append(f"| {res['target']} | " + " | ".join(med) + " | " + " | ".join(wins) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=Path("var/exp"))
    ap.add_argument("--targets", default="ota2,ota3,ota4")
    ap.add_argument("--base-model", type=Path, default=Path("service/assets/base_model"))
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--shots", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=30, help="fine-tuning epochs (Fig. 6's setting)")
    ap.add_argument("--pool", type=int, default=2048, help="explored layouts the strategies choose from")
    ap.add_argument("--test", type=int, default=2048, help="held-out layouts the FOR is measured on")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/bench_suggest.json"))
    ap.add_argument("--replace", action="store_true",
                    help="keep the other targets of an existing --out file; rerun and replace these")
    args = ap.parse_args()
    args.strategies = args.strategies.split(",")
    import torch

    torch.set_num_threads(args.threads)
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    results = [run_target(t, args, args.base_model) for t in args.targets.split(",")]
    if args.replace and args.out.is_file():
        fresh = {r["target"] for r in results}
        results = [r for r in json.loads(args.out.read_text())["results"] if r["target"] not in fresh] + results
    md = table(results, args.strategies)
    print(md)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"settings": {k: str(v) for k, v in vars(args).items()}, "results": results,
                                    "table": md, "load_before": load0, "load_after": os.getloadavg()[0],
                                    "seconds": round(time.perf_counter() - t0, 1)}, indent=1) + "\n")


if __name__ == "__main__":
    main()
