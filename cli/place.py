"""`placeq place`: generate a design space of legal placements (paper Sec. III-A) into a dataset file."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from placeq.domain import Circuit
from placeq.errors import InputError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "place",
        help="place a design for many critical-net weightings (its design space) into a dataset file",
        description=(
            "Run the batched analytical placer once per subset of the design's critical nets (all 2^k subsets, "
            "or a seeded sample of --count), legalize, and write Parquet (placements + net weights) or, for a "
            ".jsonl output, one Placement JSON per line."
        ),
    )
    p.add_argument("--design", required=True, help="built-in design name (e.g. ota1) or a circuit JSON file")
    p.add_argument("--count", type=int, default=None, help="number of placements (default: all 2^k subsets)")
    p.add_argument("--seed", type=int, default=0, help="seed of the subset sample and initial positions")
    p.add_argument("-o", "--output", required=True, type=Path, help="output .parquet or .jsonl file")
    p.add_argument("--config", type=Path, default=None, help="placer parameters JSON (see docs/placer.md)")
    p.add_argument("--batch-size", type=int, default=None, help="placements optimized together")
    p.add_argument("--workers", type=int, default=None,
                   help="placing processes (default: the config's workers, or the CPU count up to 4 without --config)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--distinct", action="store_true",
                   help="--count distinct placements: when weightings legalize to the same layout (small circuits), "
                        "place the same weightings again from other starting positions")
    p.add_argument("--allow-single", action="store_true",
                   help="place a design without critical nets anyway (its design space is one placement)")
    p.set_defaults(handler=run)


def _load_circuit(name_or_path: str) -> Circuit:
    try:
        from placeq.circuits import load_design
    except ImportError:  # built-in designs not in this build: accept a circuit JSON file only
        path = Path(name_or_path)
        if not path.is_file():
            raise InputError("design", f"no circuit JSON file {name_or_path!r} (no built-in designs)") from None
        try:
            return Circuit.model_validate_json(path.read_text())
        except ValueError as exc:
            raise InputError("design", f"{path}: {str(exc).splitlines()[0]}") from exc
    circuit: Circuit = load_design(name_or_path)
    return circuit


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from placeq.space import space_ids
    from training.dataset import write_batch
    from training.placer.config import PlacerConfig
    from training.placer.legality import check_legal
    from training.placer.space import generate_distinct, generate_space, keep_freed_memory

    keep_freed_memory()  # this short-lived process may place in-process (--workers 1)
    circuit = _load_circuit(args.design)
    config = PlacerConfig.from_json(args.config) if args.config else PlacerConfig(workers=min(os.cpu_count() or 1, 4))
    if args.workers is not None:
        config = replace(config, workers=args.workers)
    k = len(circuit.critical_nets)
    if k == 0 and not args.allow_single:
        # 2^0 = 1: `--count 16` would silently make one placement (issue 12)
        print(f"placeq place: {circuit.name} has no critical nets, so its design space is a single placement; "
              "give them (placeq import-netlist --critical-nets N|NET,NET,..., or critical_nets in the circuit "
              "JSON) or pass --allow-single", file=sys.stderr)
        return 2
    total = len(space_ids(k, args.count, args.seed))
    bar = tqdm(total=total, unit="placement", disable=args.no_progress, file=sys.stderr)

    def progress(done: int, _total: int) -> None:
        bar.update(done - bar.n)

    try:
        if args.distinct:
            if args.count is None:
                raise InputError("count", "--distinct needs --count")
            batch, weights = generate_distinct(circuit, count=args.count, seed=args.seed, config=config,
                                               batch_size=args.batch_size)
        else:
            batch, weights = generate_space(circuit, count=args.count, seed=args.seed, config=config,
                                            batch_size=args.batch_size, progress=progress)
    finally:
        bar.close()
    report = check_legal(batch, circuit, grid_um=config.grid_um, spacing_um=config.spacing_um)
    if not report.ok:
        raise InputError("design", "illegal placements produced: " + "; ".join(report.problems()))
    ids = space_ids(k, args.count, args.seed)
    meta = {
        "seed": args.seed,
        "critical_nets": list(circuit.critical_nets),
        "subset_ids": None if args.distinct else ids.tolist(),  # --distinct: weights are in the net_weights column
        "distinct": bool(args.distinct),
        "config": config.to_dict(),
    }
    write_batch(args.output, batch, weights, meta)
    distinct = len(np.unique(batch.boxes.reshape(len(batch), -1), axis=0))
    requested = args.count if args.count is not None else total
    if len(batch) < requested or distinct < len(batch):
        print(f"placeq place: warning: {requested} placements requested, {len(batch)} made, {distinct} distinct "
              f"({circuit.name} has {k} critical nets: at most 2^{k} = {2 ** k} weightings, and some weightings "
              "give the same layout)", file=sys.stderr)
    print(json.dumps({"design": circuit.name, "placements": len(batch), "distinct": distinct,
                      "output": str(args.output)}))
    return 0
