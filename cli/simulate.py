"""`placeq simulate`: label placements by post-layout SPICE simulation (paper Sec. III-A; docs/simulator.md)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "simulate",
        help="label placements with ngspice: layout effects -> post-layout netlist -> offset / CMRR",
        description=(
            "Add routing R/C, process gradient, well-proximity and spacing effects of each placement to the "
            "design's netlist, simulate it with ngspice (BSIM4) and write one label row per placement: index, "
            "value (offset in V or CMRR in dB), status ok/failed, reason, label_source, content hash."
        ),
    )
    p.add_argument("placements", type=Path, help="placements: .jsonl (Placement JSON per line) or .parquet dataset")
    p.add_argument("--design", required=True, help="built-in design name (e.g. ota1) or a circuit JSON file")
    p.add_argument("-o", "--output", required=True, type=Path, help="labels file: .parquet, .csv or .jsonl")
    p.add_argument("--netlists", type=Path, default=None, help="keep every post-layout netlist in this directory")
    p.add_argument("--tech", type=Path, default=None, help="technology JSON overriding the defaults")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (one ngspice each)")
    p.add_argument("--cache", type=Path, default=Path("var/cache/labels.sqlite"), help="label cache (sqlite)")
    p.add_argument("--no-cache", action="store_true", help="simulate everything, store nothing")
    p.add_argument("--both", action="store_true", help="measure offset AND CMRR whatever the design's metric")
    p.add_argument("--backend", choices=("shared", "batch"), default="shared",
                   help="libngspice via ctypes (default) or one `ngspice -b` process per chunk")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from placeq.circuits import load_design
    from placeq.errors import InputError
    from simulate.label import label_batch, write_labels
    from simulate.techfile import load_tech
    from training.dataset import read_batch

    if args.jobs < 1:
        raise InputError("jobs", f"must be >= 1, got {args.jobs}")
    circuit = load_design(args.design)
    batch = read_batch(args.placements)
    tech = load_tech(args.tech)
    with tqdm(total=len(batch), unit="placement", disable=args.no_progress) as bar:
        table = label_batch(
            circuit, batch, tech=tech, jobs=args.jobs, cache=None if args.no_cache else args.cache,
            netlist_dir=args.netlists, backend=args.backend, measure="both" if args.both else "metric",
            progress=bar.update,
        )
    write_labels(table, args.output)
    summary = {
        "design": circuit.name, "metric": table.metric, "placements": len(table), "ok": int(table.ok.sum()),
        "failed": int((~table.ok).sum()), "simulated": table.simulated, "label_source": table.label_source,
        "output": str(args.output),
    }
    print(json.dumps(summary))
    if len(table) and not table.ok.any():
        # A table of nothing but failures is no labels at all: say why and fail, so a script or a CI step stops
        # here instead of training on an empty set later (the rows and their reasons stay in the output).
        reasons = Counter(table.reason).most_common(3)
        why = "; ".join(f"{reason or 'no reason given'} (x{n})" for reason, n in reasons)
        print(f"placeq simulate: error: all {len(table)} placements failed to simulate: {why}. Each row's reason "
              f"is in {args.output}; check the technology file (--tech) and the ngspice install (PLACEQ_NGSPICE, "
              "--backend)", file=sys.stderr)
        return 2
    return 0
