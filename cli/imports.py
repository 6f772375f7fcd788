"""`placeq import-netlist` (SPICE/Spectre + sidecars -> circuit JSON) and `placeq import-placement` (MAGICAL
result directory -> placement JSON). Formats: docs/formats.md."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from placeq.domain import DeviceKind
from placeq.errors import InputError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "import-netlist",
        help="read a SPICE or Spectre netlist into a circuit JSON: devices, tags, symmetry, critical nets, testbench",
        description=(
            "Parse a SPICE or Spectre netlist (auto-detected; hierarchy flattened, probes shorted, sources and "
            "diodes dropped, see docs/formats.md) into a circuit JSON that every other command accepts as DESIGN. "
            "What the files do not give is inferred from the topology and printed: subcircuit tags, symmetry, "
            "critical nets and a testbench draft, each stored with its provenance ('given' or 'inferred')."
        ),
    )
    p.add_argument("netlist", type=Path, help="SPICE (.sp/.cir) or Spectre (.scs/.sp) netlist")
    p.add_argument("--types", type=Path, help="UT-AnLay <design>.json: device -> NMOS/PMOS/CAP/RES")
    p.add_argument("--channels", type=Path, help="UT-AnLay <design>.channel: device -> [channel numbers 1..5]")
    p.add_argument("--sym", "--constraints", dest="sym", type=Path,
                   help="constraint file: MAGICAL .sym ('DEV_A DEV_B' pairs, 'DEV' self-symmetric; flattened "
                        "prefixes stripped) or ALIGN .const.json (SymmetricBlocks, CommonCentroid, Power/GroundPorts)")
    p.add_argument("--testbench", type=Path,
                   help="the authors' testbench netlist (e.g. X_test.sp) or a testbench JSON; default: a draft "
                        "from the port names and the topology")
    p.add_argument("--critical-nets", metavar="N|NET,NET,...",
                   help="how many of the ranked signal-path nets to weight (default 14, or fewer when the circuit "
                        "has fewer), or the nets themselves")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="set a netlist parameter (overrides the file's; e.g. an undefined size --param w0=2u)")
    p.add_argument("--keep", action="append", default=[], metavar="DEVICE",
                   help="keep a device the element rules drop (a dummy with every terminal on one net)")
    p.add_argument("--drop", action="append", default=[], metavar="DEVICE", help="leave a device out of the layout")
    p.add_argument(
        "--sidecars",
        action="store_true",
        help="use NETLIST's <stem>.json (when it is a device-type map), <stem>.channel, <stem>.sym or "
             "<stem>.const.json when present",
    )
    p.add_argument("--no-infer", action="store_true", help="store only what the files give (no tags, symmetry, "
                                                           "critical nets or testbench draft)")
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


def _sidecars(args: argparse.Namespace) -> dict[str, Path | None]:
    """The files beside the netlist, recognised by content: a `.json` is a types file only when it maps devices
    to kinds (MAGICAL's flow JSON sits at the same name and is not one)."""
    paths: dict[str, Path | None] = {"types": args.types, "channels": args.channels, "sym": args.sym}
    if not args.sidecars:
        return paths
    stem = args.netlist.with_suffix("")
    candidates = {"types": [stem.with_suffix(".json")], "channels": [stem.with_suffix(".channel")],
                  "sym": [stem.with_suffix(".sym"), stem.with_suffix(".const.json")]}
    for key, found in candidates.items():
        for path in found:
            if paths[key] is None and path.is_file() and (key != "types" or _is_types_file(path)):
                paths[key] = path
    return paths


def _is_types_file(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    kinds = {k.value for k in DeviceKind}
    return isinstance(data, dict) and bool(data) and all(str(v).upper() in kinds for v in data.values())


def _critical(raw: str | None) -> int | list[str] | None:
    if raw is None:
        return None
    if raw.strip().isdigit():
        return int(raw)
    return [n.strip() for n in raw.split(",") if n.strip()]


def _params(raw: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in raw:
        name, eq, value = item.partition("=")
        if not eq or not name.strip() or not value.strip():
            raise InputError("--param", f"expected NAME=VALUE, got {item!r}")
        out[name.strip()] = value.strip()
    return out


def run_netlist(args: argparse.Namespace) -> int:
    from placeq.formats import read_netlist, read_symmetry
    from placeq.onboarding import complete
    from placeq.testbench_draft import resolve_testbench

    paths = _sidecars(args)
    notes: list[str] = []
    circuit = read_netlist(
        args.netlist,
        types=paths["types"],
        channels=paths["channels"],
        symmetry=paths["sym"],
        name=args.name,
        dialect=args.dialect,
        params=_params(args.param),
        keep=args.keep,
        drop=args.drop,
        notes=notes,
    )
    if not args.no_infer:
        hints = read_symmetry(paths["sym"]) if paths["sym"] is not None else None
        testbench, tb_notes = resolve_testbench(circuit, args.testbench) if args.testbench else (None, [])
        circuit, inferred = complete(
            circuit, testbench=testbench, testbench_notes=tb_notes, critical=_critical(args.critical_nets),
            power=hints.power_ports if hints else (), ground=hints.ground_ports if hints else ())
        notes += inferred
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(circuit.model_dump_json(indent=2) + "\n", encoding="utf-8")
    for line in notes:
        print(f"  {line}")
    kinds = Counter(d.kind for d in circuit.devices)
    per_kind = ", ".join(f"{k.value} {kinds[k]}" for k in DeviceKind if kinds[k])
    tagged = sum(1 for d in circuit.devices if d.tags)
    origin = ", ".join(f"{k} {v}" for k, v in sorted(circuit.provenance.items())) or "nothing inferred"
    print(
        f"{circuit.name}: {len(circuit.devices)} devices ({per_kind}), {len(circuit.nets())} nets, "
        f"{len(circuit.ports)} ports, {tagged} tagged, symmetry {len(circuit.symmetry_pairs)} pair(s) "
        f"+ {len(circuit.self_symmetric)} self, {len(circuit.critical_nets)} critical nets ({origin}) "
        f"-> {args.output}"
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
