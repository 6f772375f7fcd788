"""`placeq explore`: place a design's space, score every placement, keep the best (what an explore job does,
locally: `POST /designs/{name}/explore`, docs/explore.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from placeq.errors import InputError
from placeq.suggest import DEFAULT_STRATEGY, STRATEGIES

if TYPE_CHECKING:
    import numpy as np

    from service.scoring import LoadedModel

SHIPPED = "the shipped base model"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "explore",
        help="place a design's space, score every placement with a model, write the survivors best first",
        description=(
            "Place --count critical-net weightings of a design (all 2^k by default), score each placement with a "
            "model directory's ONNX file, prune --prune-rate of them (the worst-scored) or those at or above the "
            "model's threshold, and write the kept placements, best first, as JSON Lines: one placement per line, "
            "ready for POST /predict, /label or /finetune."
        ),
    )
    p.add_argument("--design", required=True, help="built-in design name (e.g. ota1) or a circuit JSON file")
    p.add_argument("--count", type=int, default=None, help="placements (default: all 2^k weightings, up to 65,536)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and the starting positions")
    p.add_argument("--prune-rate", type=float, default=None,
                   help="prune this share of the space, the worst-scored first (default: the model's threshold)")
    p.add_argument("--for-target", type=float, default=None,
                   help="instead of --prune-rate: the least pruning whose FOR on the --audit layouts is at most this")
    p.add_argument("--audit", default=None, metavar="PLACEMENTS:LABELS",
                   help="with --for-target: labelled layouts of the design the model was not trained on: a placements "
                        "file (.parquet or .jsonl) and its `placeq simulate` table")
    p.add_argument("--model", type=Path, default=None,
                   help=f"model directory (model.onnx, model.json[, calibration.json]; default: {SHIPPED})")
    p.add_argument("--which", choices=("kept", "pruned", "all"), default="kept", help="placements to write")
    p.add_argument("--scored", action="store_true",
                   help="write {rank, index, score, prune, placement} lines instead of bare placements")
    p.add_argument("--summary", type=Path, default=None, help="also write the whole decision (JSON) here")
    p.add_argument("--suggest", type=int, default=0, metavar="K",
                   help="also choose K placements to label next (placeq.suggest) into --suggest-out")
    p.add_argument("--strategy", choices=STRATEGIES, default=DEFAULT_STRATEGY, help="how --suggest chooses")
    p.add_argument("--suggest-out", type=Path, default=None, help="where --suggest writes (JSON Lines)")
    p.add_argument("--workers", type=int, default=None, help="placing processes (default: CPU count up to 4)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-o", "--output", required=True, type=Path, help="output .jsonl file")
    p.set_defaults(handler=run)

    q = sub.add_parser(
        "explore-loop",
        help="explore -> suggest -> label (ngspice) -> fine-tune -> explore again, for a number of rounds",
        description=(
            "Place a design's space once; each round, score it with the current model, keep the best, simulate the "
            "next --shots suggested layouts with our labeller and fine-tune the base model on every label so far "
            "(as POST /finetune does with values). With --audit, that many random placements are simulated once "
            "and each round's FOR on them measures progress. Writes DIR/round<r>/ (kept.jsonl, "
            "label_these.jsonl, model/) and DIR/loop.json, loop.md, loop.png (docs/explore.md)."
        ),
    )
    q.add_argument("--design", required=True, help="built-in design name or a circuit JSON file (with a testbench)")
    q.add_argument("--count", type=int, default=1024, help="placements explored (0: all 2^k weightings)")
    q.add_argument("--seed", type=int, default=0, help="seed of the sample, starting positions and audit draw")
    q.add_argument("--rounds", type=int, default=2, help="label-and-fine-tune rounds")
    q.add_argument("--shots", type=int, default=16, help="layouts simulated per round")
    q.add_argument("--strategy", choices=STRATEGIES, default=DEFAULT_STRATEGY, help="how the layouts are chosen")
    q.add_argument("--prune-rate", type=float, default=0.25, help="share of the space pruned each round")
    q.add_argument("--audit", type=int, default=0, help="random placements simulated once to measure each round")
    q.add_argument("--epochs", type=int, default=30, help="fine-tuning epochs")
    q.add_argument("--model", type=Path, default=None, help=f"base model directory (default: {SHIPPED})")
    q.add_argument("--jobs", type=int, default=1, help="labelling processes")
    q.add_argument("--workers", type=int, default=None, help="placing processes (default: CPU count up to 4)")
    q.add_argument("-o", "--out", required=True, type=Path, help="output folder")
    q.set_defaults(handler=loop)


def loop(args: argparse.Namespace) -> int:
    from cli.place import _load_circuit
    from placeq.artifact import WEIGHTS
    from service.runtime import shipped_base_model
    from training.explore_loop import LoopConfig, render, run_loop

    model_dir = args.model or shipped_base_model()
    if model_dir is None or not (model_dir / WEIGHTS).is_file():
        raise InputError("model", f"no {WEIGHTS} (a fine-tunable model) in {model_dir or SHIPPED}")
    circuit = _load_circuit(args.design)
    if circuit.testbench is None:
        raise InputError("design", f"{circuit.name} has no testbench: nothing to simulate (placeq import-netlist "
                                   "--testbench, or placeq check --fix-bias)")
    config = LoopConfig(count=args.count or None, seed=args.seed, rounds=args.rounds, shots=args.shots,
                        strategy=args.strategy, prune_rate=args.prune_rate, audit=args.audit, epochs=args.epochs,
                        jobs=args.jobs, workers=args.workers or min(os.cpu_count() or 1, 4),
                        extra={"model": str(model_dir), "design": args.design})
    result = run_loop(circuit, model_dir, config, args.out, say=lambda m: print(m, file=sys.stderr, flush=True))
    print(render(result), end="")
    print(f"wrote {args.out / 'loop.json'}, {args.out / 'loop.md'}, {args.out / 'loop.png'}")
    return 0


def model_threshold(model_dir: Path) -> float:
    """The threshold a model directory is published with (`model_store.publish_model_dir`): its calibration's,
    else the one in its ONNX metadata."""
    from placeq.artifact import KEY_THRESHOLD, ONNX
    from training.calibration import read_calibration
    from training.export import read_metadata

    calibration = read_calibration(model_dir)
    return float(calibration["threshold"] if calibration else read_metadata(model_dir / ONNX)[KEY_THRESHOLD])


def read_audit(spec: str, model: LoadedModel) -> tuple[np.ndarray, np.ndarray]:
    """Scores (by `model`) and bad flags (their own worst quartile) of the labelled layouts in
    ``PLACEMENTS:LABELS``, those with a value."""
    from placeq.explore import audit_rows
    from service.workers.explore import score_placements
    from training.dataset import read_batch
    from training.feed import read_values

    placements, sep, labels = spec.rpartition(":")
    if not sep or not placements or not labels:
        raise InputError("audit", f"{spec!r}: give PLACEMENTS:LABELS (a placements file and its simulate table)")
    batch = read_batch(placements)
    values, metric = read_values(labels)
    if len(values) != len(batch):
        raise InputError("audit", f"{labels} has {len(values)} rows for the {len(batch)} placements of {placements}")
    ok, bad = audit_rows(values, metric)
    return score_placements(model, batch.take(ok)), bad


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cli.place import _load_circuit
    from placeq.artifact import ONNX
    from placeq.explore import Decision, check_rule, rate_for_target, space_size
    from placeq.space import space_ids
    from placeq.suggest import suggest
    from service.runtime import shipped_base_model
    from service.scoring import load_model
    from service.workers.explore import score_placements
    from training.placer.config import PlacerConfig
    from training.placer.space import generate_space, keep_freed_memory

    if args.suggest and args.suggest_out is None:
        raise InputError("suggest_out", "--suggest needs --suggest-out")
    if args.prune_rate is not None and not 0.0 < args.prune_rate < 1.0:
        raise InputError("prune_rate", f"must lie in (0, 1), got {args.prune_rate}")
    check_rule(args.prune_rate, args.for_target, args.audit)
    if args.for_target is not None and not 0.0 < args.for_target < 1.0:
        raise InputError("for_target", f"must lie in (0, 1), got {args.for_target}")
    model_dir = args.model or shipped_base_model()
    if model_dir is None or not (model_dir / ONNX).is_file():
        raise InputError("model", f"no {ONNX} in {model_dir or SHIPPED}")
    circuit = _load_circuit(args.design)
    n = space_size(circuit, args.count)
    model = load_model((model_dir / ONNX).read_bytes(), design=circuit.name, version=1, sha256="",
                       threshold=model_threshold(model_dir))
    keep_freed_memory()
    config = PlacerConfig(workers=args.workers or min(os.cpu_count() or 1, 4))
    bar = tqdm(total=n, unit="placement", disable=args.no_progress, file=sys.stderr)
    try:
        batch, _ = generate_space(circuit, count=n, seed=args.seed, config=config,
                                  progress=lambda done, _total: bar.update(done - bar.n))
    finally:
        bar.close()
    scores = score_placements(model, batch)
    target = None
    if args.for_target is not None:
        audit_scores, audit_bad = read_audit(args.audit, model)
        target = rate_for_target(scores, audit_scores, audit_bad, args.for_target)
    decision = Decision.of(scores, threshold=model.threshold,
                           prune_rate=target.prune_rate if target is not None else args.prune_rate)
    result = decision.summary()
    if target is not None:
        result.update(rule="for_target", for_target=target.record())

    def write(path: Path, rows: list[int]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as out:
            out.writelines(decision.lines(rows, lambda i: batch.placement(i).model_dump_json(), scored=args.scored))

    rows = decision.select(args.which)
    write(args.output, rows)
    if args.suggest:
        subsets = space_ids(len(circuit.critical_nets), n, args.seed)
        write(args.suggest_out, suggest(decision.scores, decision.prune, subsets, args.suggest,
                                        strategy=args.strategy))
    if args.summary is not None:
        args.summary.write_text(json.dumps({**result, "model": str(model_dir), "seed": args.seed,
                                            "prune": decision.prune.tolist(),
                                            "scores": decision.scores.tolist()}) + "\n")
    print(json.dumps({"design": circuit.name, "placements": result["placements"], "kept": result["kept"],
                      "pruned": result["pruned"], "rule": result["rule"], "threshold": result["threshold"],
                      **({"for_target": result["for_target"]} if target is not None else {}),
                      "written": len(rows), "output": str(args.output),
                      **({"suggested": args.suggest, "strategy": args.strategy, "suggest_out": str(args.suggest_out)}
                         if args.suggest else {})}))
    return 0
