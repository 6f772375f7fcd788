"""`placeq import-netlist` (SPICE/Spectre + sidecars -> circuit JSON) and `placeq import-placement` (MAGICAL
result directory -> placement JSON). Formats: docs/formats.md."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

from placeq.domain import DeviceKind

_SIDECARS = (("types", ".json"), ("channels", ".channel"), ("sym", ".sym"))


def register(sub: Any) -> None:
    p = sub.add_parser(
        "import-netlist",
        help="read a SPICE or Spectre netlist (+ UT-AnLay .json/.channel, MAGICAL .sym) into a circuit JSON",
        description=(
            "Parse a SPICE or Spectre netlist (auto-detected) into a circuit JSON that every other command accepts "
            "as DESIGN. Device kinds come from model names unless --types gives them; --channels tags devices "
            "with the paper's subcircuits (1 first stage .. 5 bias); --sym adds matching constraints."
        ),
    )
    p.add_argument("netlist", type=Path, help="SPICE (.sp/.cir) or Spectre (.scs/.sp) netlist")
    p.add_argument("--types", type=Path, help="UT-AnLay <design>.json: device -> NMOS/PMOS/CAP/RES")
    p.add_argument("--channels", type=Path, help="UT-AnLay <design>.channel: device -> [channel numbers 1..5]")
    p.add_argument("--sym", type=Path, help="MAGICAL .sym file: 'DEV_A DEV_B' pairs and 'DEV' self-symmetric lines")
    p.add_argument(
        "--sidecars",
        action="store_true",
        help="use NETLIST's <stem>.json, <stem>.channel and <stem>.sym when present (UT-AnLay layout)",
    )
    p.add_argument("--name", help="circuit name; also picks the subckt when the file defines several")
    p.add_argument("--dialect", choices=("auto", "spice", "spectre"), default="auto", help="netlist dialect")
    p.add_argument("-o", "--output", required=True, type=Path, help="circuit JSON to write")
    p.set_defaults(handler=run_netlist)

    q = sub.add_parser(
        "import-placement",
        help="read a MAGICAL placement directory (place.result/.pin/.connection) into a placement JSON",
        description=(
            "Read MAGICAL's place.result (device boxes, um), place.pin (pin shapes relative to each device) and "
            "place.connection (checked against the circuit) into a Placement JSON for `placeq features`."
        ),
    )
    q.add_argument("directory", type=Path, help="directory holding place.result, place.pin, place.connection")
    q.add_argument("--circuit", required=True, help="circuit JSON (from import-netlist) or built-in design name")
    q.add_argument("-o", "--output", required=True, type=Path, help="placement JSON to write")
    q.set_defaults(handler=run_placement)


def run_netlist(args: argparse.Namespace) -> int:
    from placeq.formats import read_netlist

    paths: dict[str, Path | None] = {key: getattr(args, key) for key, _ in _SIDECARS}
    if args.sidecars:
        for key, suffix in _SIDECARS:
            candidate = args.netlist.with_suffix(suffix)
            if paths[key] is None and candidate.is_file():
                paths[key] = candidate
    circuit = read_netlist(
        args.netlist,
        types=paths["types"],
        channels=paths["channels"],
        symmetry=paths["sym"],
        name=args.name,
        dialect=args.dialect,
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(circuit.model_dump_json(indent=2) + "\n", encoding="utf-8")
    kinds = Counter(d.kind for d in circuit.devices)
    per_kind = ", ".join(f"{k.value} {kinds[k]}" for k in DeviceKind if kinds[k])
    tagged = sum(1 for d in circuit.devices if d.tags)
    print(
        f"{circuit.name}: {len(circuit.devices)} devices ({per_kind}), {len(circuit.nets())} nets, "
        f"{len(circuit.ports)} ports, {tagged} tagged, symmetry {len(circuit.symmetry_pairs)} pair(s) "
        f"+ {len(circuit.self_symmetric)} self -> {args.output}"
    )
    return 0


def run_placement(args: argparse.Namespace) -> int:
    from placeq.circuits import load_design
    from placeq.formats import read_magical_placement

    circuit = load_design(args.circuit)
    placement = read_magical_placement(args.directory, circuit)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(placement.model_dump_json(indent=2) + "\n", encoding="utf-8")
    box = placement.bounding_box()
    print(
        f"{placement.design}: {len(placement.devices)} devices, {len(placement.pins)} pins, "
        f"{len(placement.nets())} nets, {box.x1 - box.x0:.2f} x {box.y1 - box.y0:.2f} um -> {args.output}"
    )
    return 0
