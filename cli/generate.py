"""`placeq generate-topologies`: OTAs composed of building blocks (placeq.generate), kept when `placeq check` accepts
them (issue 14's pretraining corpus; docs/corpus.md)."""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from placeq.errors import InputError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "generate-topologies",
        help="generate OTA topologies and sizings, keep (and write) those that placeq check accepts",
        description=(
            "Compose OTAs from building blocks (NMOS or PMOS input pair; simple, telescopic or folded-cascode first "
            "stage; current-source, resistive or mirror loads; resistive or transistor CMFB; optional common-source "
            "second stage with Miller compensation; diode-reference bias networks), size them for the generic "
            "1.8 V cards, run the check of `placeq check` on each and write the accepted ones as circuit JSON "
            "files. Deterministic by --seed: candidate i of a seed is always the same circuit."
        ),
    )
    p.add_argument("--count", type=int, required=True, help="number of candidates to generate and check")
    p.add_argument("--seed", type=int, default=0, help="seed of the topology order and the sizes")
    p.add_argument("-o", "--output", type=Path, required=True, help="directory for <name>.json of each accepted design")
    p.add_argument("--tech", type=Path, default=None, help="technology JSON overriding the defaults")
    p.add_argument("--no-check", action="store_true", help="write every candidate, unchecked")
    p.set_defaults(handler=run)


def _reason(problem: str) -> str:
    """A rejection's category, for the summary."""
    for key, label in (("not saturated", "signal path not saturated"), ("wrong polarity", "wrong feedback polarity"),
                       ("open-loop gain", "gain below 40 dB"), ("floating node", "floating node"),
                       ("NaN", "NaN in the operating point"), ("converge", "no operating point"),
                       ("outside the supply", "node outside the rails")):
        if key in problem:
            return label
    return "other"


def run(args: argparse.Namespace) -> int:
    from placeq.generate import generate
    from simulate.check import check_design
    from simulate.techfile import load_tech

    if args.count < 1:
        raise InputError("count", f"must be >= 1, got {args.count}")
    tech = load_tech(args.tech)
    args.output.mkdir(parents=True, exist_ok=True)
    rejected: Counter[str] = Counter()
    summary: list[dict[str, object]] = []
    accepted = 0
    for gen in generate(args.count, args.seed):
        c = gen.circuit
        row: dict[str, object] = {"name": c.name, "topology": gen.topology.key, "devices": len(c.devices),
                                  "metric": c.testbench.metric if c.testbench else None, **gen.params}
        if args.no_check:
            ok, line = True, "written unchecked"
        else:
            report = check_design(c, tech)
            worst = report.smallest_margin()
            margin = worst.op.margin if worst is not None else math.nan
            row |= {"gain_db": round(report.gain_db, 1) if math.isfinite(report.gain_db) else None,
                    "margin_V": round(margin, 3) if math.isfinite(margin) else None,
                    "margin_device": worst.op.name if worst is not None else None,
                    "output_cm_V": round(report.output_cm, 3) if math.isfinite(report.output_cm) else None}
            ok = report.ok
            if ok:
                line = f"gain {report.gain_db:.1f} dB, smallest signal-path margin {margin:.3f} V"
            else:
                reasons = sorted({_reason(p) for p in report.problems})
                rejected.update(reasons)
                row["rejected"] = reasons
                line = "; ".join(report.problems)
        row["accepted"] = ok
        summary.append(row)
        if ok:
            accepted += 1
            (args.output / f"{c.name}.json").write_text(c.model_dump_json(indent=2) + "\n", encoding="utf-8")
        print(f"{c.name}: {'accepted' if ok else 'rejected'} ({len(c.devices)} devices, {row['metric']}): {line}")
    (args.output / "generate_summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    why = ", ".join(f"{k}: {v}" for k, v in rejected.most_common()) or "none"
    print(f"summary: {accepted} of {args.count} accepted, {args.count - accepted} rejected ({why}); "
          f"written to {args.output}")
    return 0
