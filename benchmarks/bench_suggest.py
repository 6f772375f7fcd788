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

``--loop-rounds R`` runs the whole loop instead (explore -> suggest -> label -> fine-tune -> explore, as
``placeq explore-loop`` does, with the space's labels looked up instead of simulated): per repeat and strategy,
R rounds of `--shots` labels; each round the current model scores the pool, the strategy picks among the layouts
not yet labelled, and a fresh copy of the base is fine-tuned on all labels so far. The cost of a strategy is the
labels (simulations) it spent before the held-out FOR first reached ``--loop-target`` (10%): the question a user
asks is how many simulations buy a model they can prune with.

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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Target:
    """A labelled design space and the base model, as every repeat starts from them."""

    data: Any  # training.experiments.DesignData
    subsets: np.ndarray
    ok: np.ndarray
    bad: np.ndarray  # the space's own worst quartile
    ckpt: Any  # training.checkpoint.Checkpoint
    base_sha256: str


def load_target(spec: str, args: argparse.Namespace, base_dir: Path) -> Target:
    data = load_design(args.data_dir, spec)
    subsets = np.asarray(read_meta(design_source(spec, args.data_dir).placements)["subset_ids"], dtype=np.int64)
    return Target(data, subsets, np.isfinite(data.values), worst_quartile(data.values, data.metric) == 1,
                  load_checkpoint(base_dir), weights_sha256(base_dir)[:12])


def start_repeat(t: Target, args: argparse.Namespace, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                        dict[str, Any]]:
    """Repeat r's pool and test rows, the base's scores on the pool, and the row's reference columns."""
    pool, test = draw(len(t.data.values), t.data.groups, args.pool, args.test, seed=r)
    pool, test = pool[t.ok[pool]], test[t.ok[test]]
    bad = t.bad[test]
    row = {"repeat": r, "random_pruning": float(bad.mean()),
           "base": false_omission_rate(predict_proba(t.ckpt.model, Rows(t.data.x, test)), bad, PRUNE),
           "pair_distance": false_omission_rate(t.data.heuristics["pair_distance"][test], bad, PRUNE)}
    return pool, test, predict_proba(t.ckpt.model, Rows(t.data.x, pool)), row


def run_target(spec: str, args: argparse.Namespace, base_dir: Path) -> dict[str, Any]:
    t = load_target(spec, args, base_dir)
    rows: list[dict[str, Any]] = []
    for r in range(args.repeats):
        pool, test, base_pool, row = start_repeat(t, args, r)
        pruned = prune_mask(base_pool, t.ckpt.threshold, PRUNE)
        for strategy in args.strategies:
            picks = pool[suggest(base_pool, pruned, t.subsets[pool], args.shots, strategy=strategy, seed=r)]
            model = finetuned(t.ckpt.model, t.data, picks, args, seed=r)
            row[strategy] = false_omission_rate(predict_proba(model, Rows(t.data.x, test)), t.bad[test], PRUNE)
        rows.append(row)
        print(json.dumps({"target": t.data.name, **{k: round(v, 4) if isinstance(v, float) else v
                                                    for k, v in row.items()}}), flush=True)
    return {"target": t.data.name, "base_sha256": t.base_sha256, "rows": rows}


def finetuned(base: Any, data: Any, picks: np.ndarray, args: argparse.Namespace, seed: int) -> Any:
    """A copy of the base fine-tuned on the values of `picks`, relabelled by their own worst 25%, as /finetune."""
    y = np.full(len(data.values), -1, dtype=np.int64)
    y[picks] = relabel(data.values[picks], critical_value(data.values[picks], data.metric), data.metric)
    model = copy.deepcopy(base)
    options = Options(epochs=args.epochs, balanced=True, seed=seed, threads=args.threads, recipe="gentle",
                      score_train=False)
    fit_model(model, data.x, y, {"train": picks}, options, finetune=True, values=data.values, metric=data.metric)
    return model


def loop_target(spec: str, args: argparse.Namespace, base_dir: Path) -> dict[str, Any]:
    """The loop's held-out FOR after each round of labels, per repeat and strategy (module docstring)."""
    t = load_target(spec, args, base_dir)
    rows: list[dict[str, Any]] = []
    for r in range(args.repeats):
        pool, test, base_pool, row = start_repeat(t, args, r)
        for strategy in args.strategies:
            scores, taken, curve = base_pool, np.zeros(0, dtype=np.int64), [row["base"]]
            for k in range(args.loop_rounds):
                if curve[-1] <= args.loop_target:
                    break  # reached: the user stops labelling here
                pruned = prune_mask(scores, t.ckpt.threshold, PRUNE)
                new = suggest(scores, pruned, t.subsets[pool], args.shots, strategy=strategy, seed=r * 1000 + k,
                              exclude=taken)
                taken = np.concatenate([taken, np.asarray(new, dtype=np.int64)])
                model = finetuned(t.ckpt.model, t.data, pool[taken], args, seed=r)
                curve.append(false_omission_rate(predict_proba(model, Rows(t.data.x, test)), t.bad[test], PRUNE))
                if strategy != "random":  # random picks need no scores
                    scores = predict_proba(model, Rows(t.data.x, pool))
            reached = next((i * args.shots for i, f in enumerate(curve) if f <= args.loop_target), None)
            row[strategy] = {"for": curve, "labels_to_target": reached}
        rows.append(row)
        print(json.dumps({"target": t.data.name, "repeat": r, **{s: row[s] for s in args.strategies}},
                         default=lambda v: round(v, 4)), flush=True)
    return {"target": t.data.name, "base_sha256": t.base_sha256, "rows": rows}


def loop_table(results: list[dict[str, Any]], strategies: list[str], args: argparse.Namespace) -> str:
    """Per target and strategy: the median FOR after each round, then for each reported FOR target the labels
    spent to reach it (median over repeats; a repeat that never reaches it counts as more than the budget) and
    how many repeats reached it. A target at or above ``--loop-target`` is read off the recorded curves (a loop
    runs on until ``--loop-target``, so it passes every higher target first)."""
    budget = args.loop_rounds * args.shots
    targets = sorted({args.loop_target, *args.report_targets})
    out = ["| target | strategy | " + " | ".join(f"FOR after {k * args.shots}" for k in range(args.loop_rounds + 1))
           + " | " + " | ".join(f"labels to FOR <= {100 * t:g}% (reached)" for t in targets)
           + f" | labels to random's FOR at {budget} (reached) |",
           "|---" * (2 + args.loop_rounds + 1 + len(targets) + 1) + "|"]
    for res in results:
        for s in strategies:
            runs = [row[s]["for"] for row in res["rows"]]
            # a repeat that stopped early keeps the FOR it stopped at: the user stopped labelling there
            cells = [f"{100 * statistics.median(c[min(k, len(c) - 1)] for c in runs):.1f}"
                     for k in range(args.loop_rounds + 1)]
            for t in targets:
                spent = [next((i * args.shots for i, f in enumerate(c) if f <= t), None) for c in runs]
                med = statistics.median(float("inf") if v is None else float(v) for v in spent)
                reached = sum(v is not None for v in spent)
                cells.append(f"{'> ' + str(budget) if med == float('inf') else f'{med:.0f}'} "
                             f"({reached}/{len(runs)})")
            if s == "random" or "random" not in strategies:
                cells.append("-")
            else:  # per repeat: the first round at which this strategy does as well as random's last round
                ends = [row["random"]["for"][-1] for row in res["rows"]]
                spent = [next((i * args.shots for i, f in enumerate(c) if f <= end), None)
                         for c, end in zip(runs, ends, strict=True)]
                med = statistics.median(float("inf") if v is None else float(v) for v in spent)
                cells.append(f"{'> ' + str(budget) if med == float('inf') else f'{med:.0f}'} "
                             f"({sum(v is not None for v in spent)}/{len(runs)})")
            out.append(f"| {res['target']} | {s} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def plot(results: list[dict[str, Any]], strategies: list[str], args: argparse.Namespace, path: Path) -> None:
    """One panel per target: the loop's median FOR after each round per strategy (with the repeats' range), or the
    16-shot FOR of each strategy over the repeats (box plots); random pruning and the base as is as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(3.6 * len(results), 3.0), squeeze=False)
    for ax, res in zip(axes[0], results, strict=True):
        rows = res["rows"]
        ax.axhline(100 * statistics.median(r["random_pruning"] for r in rows), color="#b3261e", ls="--", lw=1,
                   label="random pruning")
        ax.axhline(100 * statistics.median(r["pair_distance"] for r in rows), color="#888", ls=":", lw=1,
                   label="pair distance")
        if args.loop_rounds:
            ax.axhline(100 * args.loop_target, color="k", lw=0.6)
            x = [k * args.shots for k in range(args.loop_rounds + 1)]
            for s in strategies:
                at = np.array([[r[s]["for"][min(k, len(r[s]["for"]) - 1)] for k in range(len(x))] for r in rows])
                ax.plot(x, 100 * np.median(at, axis=0), marker="o", ms=3, label=s)
                ax.fill_between(x, 100 * at.min(axis=0), 100 * at.max(axis=0), alpha=0.15)
            ax.set_xlabel("labels (simulations)")
        else:
            ax.boxplot([[100 * r[s] for r in rows] for s in strategies], showfliers=False)
            ax.set_xticks(range(1, len(strategies) + 1), [s.replace("_", "\n") for s in strategies], fontsize=7)
            ax.axhline(100 * statistics.median(r["base"] for r in rows), color="#2f5fb3", ls="-.", lw=1,
                       label="base as is")
        ax.set_title(res["target"], fontsize=9)
        ax.set_ylabel("FOR at 25% pruned (%)")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
    ap.add_argument("--loop-rounds", type=int, default=0,
                    help="run the whole loop for this many rounds of --shots labels (0: one round, the 16-shot test)")
    ap.add_argument("--loop-target", type=float, default=0.10, help="the held-out FOR the loop labels until")
    ap.add_argument("--report-targets", type=lambda v: [float(x) for x in v.split(",") if x], default=[],
                    help="also report the labels to reach these FOR targets (comma-separated, >= --loop-target)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/bench_suggest.json"))
    ap.add_argument("--plot", type=Path, default=None, help="draw the results (PNG) here")
    ap.add_argument("--from-json", action="store_true",
                    help="run nothing: redraw the table and --plot from an existing --out file")
    ap.add_argument("--replace", action="store_true",
                    help="keep the other targets of an existing --out file; rerun and replace these")
    args = ap.parse_args()
    args.strategies = args.strategies.split(",")
    import torch

    torch.set_num_threads(args.threads)
    if args.from_json:
        done = json.loads(args.out.read_text())["results"]
        print(loop_table(done, args.strategies, args) if args.loop_rounds else table(done, args.strategies))
        if args.plot is not None:
            plot(done, args.strategies, args, args.plot)
        return
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    run = loop_target if args.loop_rounds else run_target
    results = [run(t, args, args.base_model) for t in args.targets.split(",")]
    if args.replace and args.out.is_file():
        fresh = {r["target"] for r in results}
        results = [r for r in json.loads(args.out.read_text())["results"] if r["target"] not in fresh] + results
    md = loop_table(results, args.strategies, args) if args.loop_rounds else table(results, args.strategies)
    print(md)
    if args.plot is not None:
        plot(results, args.strategies, args, args.plot)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"settings": {k: str(v) for k, v in vars(args).items()}, "results": results,
                                    "table": md, "load_before": load0, "load_after": os.getloadavg()[0],
                                    "seconds": round(time.perf_counter() - t0, 1)}, indent=1) + "\n")


if __name__ == "__main__":
    main()
