"""``placeq labels | report``: training labels from simulated values, and the paper's Sec. IV experiments.

``placeq labels`` turns a ``placeq simulate`` table (continuous offset / CMRR per placement) into the 0/1/-1
label array that ``placeq train`` reads: ``balanced`` is the paper's base-model set (Sec. IV-B: best 25% -> 0,
worst 25% -> 1, the middle half -1 = unused); ``quartile`` labels the full distribution (worst 25% -> 1, the
rest 0; Sec. III-A, the transfer targets of Table IV). ``placeq report`` runs Table III, Table IV and Fig. 6 and
writes Markdown, JSON and a PNG under ``docs/results/`` (training/experiments.py, training/report.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from placeq.architectures import ARCHITECTURES, DEFAULT_ARCHITECTURE, PAPER_ARCHITECTURES
from placeq.devices import DEVICES
from placeq.errors import InputError
from placeq.labels import LABEL_MODES


def register(sub: Any) -> None:
    p = sub.add_parser("labels", help="0/1 training labels (.npy) from a `placeq simulate` table")
    p.add_argument("values", type=Path, help="labels table written by `placeq simulate` (.parquet/.csv/.jsonl)")
    p.add_argument("-o", "--output", required=True, type=Path, help="label array to write (.npy, int8)")
    p.add_argument(
        "--mode",
        choices=LABEL_MODES,
        default="quartile",
        help="balanced: best q -> 0, worst q -> 1, rest -1 (base model); quartile: worst q -> 1, rest 0",
    )
    p.add_argument("--q", type=float, default=0.25, help="worst (and, balanced, best) fraction (paper: 0.25)")
    p.set_defaults(handler=labels)

    p = sub.add_parser("report", help="Table III, Table IV and Fig. 6 of the paper on our data (docs/results/)")
    p.add_argument("--data-dir", type=Path, default=Path("var/exp"),
                   help="holds otaN.parquet, otaN.labels.parquet (and otaN.f16.npy feature caches)")
    p.add_argument("--out", type=Path, default=Path("docs/results"), help="where the report files go")
    p.add_argument("--work", type=Path, default=Path("var/exp/report"), help="model directories, per-run JSON")
    p.add_argument("--base-design", default="ota1",
                   help="source design of the base model: a built-in, a circuit JSON or "
                        "CIRCUIT.json:PLACEMENTS.parquet:LABELS.parquet (as for --targets)")
    p.add_argument("--targets", default="ota2,ota3,ota4",
                   help="transfer targets, comma separated: built-in names (files in --data-dir), circuit JSONs "
                        "(placements and labels found by the file's stem in --data-dir or in a corpus folder's "
                        "spaces/ and labels/), or CIRCUIT.json:PLACEMENTS.parquet:LABELS.parquet")
    p.add_argument("--parts", default="base,table3,table4,fewshot",
                   help="experiments to run (comma separated; empty: only re-render the saved parts)")
    p.add_argument("--subsample", type=int, default=3000, help="Table III: balanced layouts used (train+val+test)")
    p.add_argument("--epochs", type=int, default=6, help="Table III: epochs per architecture")
    p.add_argument("--archs", default=",".join((*PAPER_ARCHITECTURES, DEFAULT_ARCHITECTURE)),
                   help=f"Table III architectures, of {', '.join(ARCHITECTURES)}")
    p.add_argument("--base-model", type=Path, default=Path("service/assets/base_model"),
                   help="Table IV / Fig. 6: the base model directory (fast3d trained on the base design)")
    p.add_argument("--alphas", default="0.8,0.1,0.01,0.0", help="Table IV training ratios")
    p.add_argument("--max-train", type=int, default=4000,
                   help="Table IV: cap on training layouts per run (alpha=0.8 on CPU); 0 = no cap")
    p.add_argument("--ft-epochs", type=int, default=8, help="Table IV: maximum epochs per fine-tuning run")
    p.add_argument("--inits", default="base,random",
                   help="Table IV recipes: base (w: lr 1e-4, BatchNorm frozen), random (w/o: lr 1e-3), "
                        "base_lr1e-3 (the base weights trained like w/o)")
    p.add_argument("--shots", type=int, default=16, help="Fig. 6: labelled layouts per few-shot run")
    p.add_argument("--repeats", type=int, default=20, help="Fig. 6: runs per target (paper: 100)")
    p.add_argument("--fewshot-epochs", type=int, default=30, help="Fig. 6: epochs per few-shot run")
    p.add_argument("--seed", type=int, default=0, help="seed of every split, initialization and sample")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="where models train: auto = CUDA when torch sees a device, else the CPU")
    p.set_defaults(handler=report)


def labels(args: argparse.Namespace) -> int:
    import numpy as np

    from placeq.labels import label_array
    from training.feed import read_values

    values, metric = read_values(args.values)
    y = label_array(values, metric, args.mode, args.q)
    if args.output.suffix != ".npy":
        raise InputError("output", f"{args.output.name}: write a .npy label array")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.output, y)
    counts = {str(k): int((y == k).sum()) for k in (1, 0, -1)}
    print(json.dumps({"metric": metric, "mode": args.mode, "q": args.q, "counts": counts, "output": str(args.output)}))
    return 0


def report(args: argparse.Namespace) -> int:
    from training.report import ReportConfig, run_report

    cfg = ReportConfig(
        data_dir=args.data_dir, out=args.out, work=args.work, base_design=args.base_design,
        targets=tuple(t for t in args.targets.split(",") if t), parts=tuple(p for p in args.parts.split(",") if p),
        subsample=args.subsample, epochs=args.epochs, archs=tuple(args.archs.split(",")),
        base_model=args.base_model, alphas=tuple(float(a) for a in args.alphas.split(",")),
        max_train=args.max_train, ft_epochs=args.ft_epochs, inits=tuple(args.inits.split(",")),
        shots=args.shots, repeats=args.repeats,
        fewshot_epochs=args.fewshot_epochs, seed=args.seed, threads=args.threads,
        device=args.device,
    )
    for path in run_report(cfg):
        print(f"wrote {path}")
    return 0
