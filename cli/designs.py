"""`placeq designs`: list the built-in OTA designs (paper Table I) or show one design's details."""

from __future__ import annotations

import argparse
from typing import Any

from placeq.domain import Circuit


def register(sub: Any) -> None:
    p = sub.add_parser(
        "designs",
        help="list the built-in OTA designs (name, devices, nets, critical nets, metric)",
        description="List the built-in designs, or with --show describe one design (built-in name or circuit JSON).",
    )
    p.add_argument("--show", metavar="DESIGN", default=None, help="print devices, pairs and critical nets of DESIGN")
    p.set_defaults(handler=run)


def table(circuits: list[Circuit]) -> str:
    """A fixed-width text table, one row per design."""
    header = ("name", "devices", "nets", "critical", "metric", "description")
    rows = [
        (
            c.name,
            str(len(c.devices)),
            str(len(c.nets())),
            str(len(c.critical_nets)),
            c.testbench.metric if c.testbench else "-",
            c.description.split(":")[0],
        )
        for c in circuits
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in (header, *rows)]
    return "\n".join(lines)


def describe(c: Circuit) -> str:
    """Multi-line summary of one design."""
    lines = [f"{c.name}: {c.description}", f"devices ({len(c.devices)}):"]
    for d in c.devices:
        if d.is_mos:
            size = f"w={d.w} l={d.l} nf={d.nf} m={d.m}"
        else:  # a netlist may give only a model (UT-AnLay's mom_cap, poly_res): no value
            size = f"value={d.value:g}" if d.value is not None else f"model={d.model or '?'}"
        tags = ",".join(t.value for t in d.tags)
        nets = " ".join(f"{t}={n}" for t, n in d.terminals.items())
        lines.append(f"  {d.name:5s} {d.kind.value:4s} {size:28s} [{tags}] {nets}")
    lines.append("symmetry pairs: " + " ".join(f"{a}/{b}" for a, b in c.symmetry_pairs))
    lines.append("self-symmetric: " + " ".join(c.self_symmetric))
    lines.append(f"critical nets ({len(c.critical_nets)}): " + " ".join(c.critical_nets))
    if c.testbench is not None:
        lines.append(f"testbench: {c.testbench.model_dump_json()}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from placeq.circuits import list_designs, load_design

    if args.show is not None:
        print(describe(load_design(args.show)))
    else:
        print(table(list_designs()))
    return 0
