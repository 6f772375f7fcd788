"""`placeq check`: can this design be labelled? Its nominal operating point as a table, and the verdict as exit code.

Exit 0: every signal-path MOSFET saturated, the op finite, the feedback negative and the loop gain high enough for
the unity-feedback offset (simulate/check.py says why each rule matters). Exit 2 with the reasons otherwise, before
hours of labelling produce failed or, worse, plausible-looking garbage labels.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from placeq.domain import Circuit
from placeq.errors import InputError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="the nominal operating point of a design and whether it can be labelled (exit 0) or not (exit 2)",
        description=(
            "Simulate the design's nominal placement in its testbench (ngspice op + 1 Hz open-loop AC) and print "
            "per MOSFET its region and |Vds|-Vdsat margin, the supply and bias currents, the open-loop gain and its "
            "sign, and the output common mode. Exit 2 naming the reason when the design cannot be labelled: a "
            "floating node, a NaN, signal-path devices in triode, feedback of the wrong polarity (swapped inputs), "
            "or too little gain for the unity-feedback offset testbench."
        ),
    )
    p.add_argument("--design", required=True, help="built-in design name (e.g. ota1) or a circuit JSON file")
    p.add_argument("--testbench", type=Path, default=None,
                   help="testbench to check with: the authors' *_test.sp netlist or a testbench JSON file")
    p.add_argument("--tech", type=Path, default=None, help="technology JSON overriding the defaults")
    p.add_argument("--fix-bias", action="store_true",
                   help="sweep the testbench's bias voltages and currents to maximize the smallest saturation "
                        "margin, then write the values back into the circuit JSON (--design, or -o)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="with --fix-bias: write the fixed circuit JSON here instead of over --design")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(handler=run)


def _fmt_current(amps: float) -> str:
    if not math.isfinite(amps):
        return "nan"
    if amps == 0:
        return "0 A"
    for scale, unit in ((1e-3, "mA"), (1e-6, "uA"), (1e-9, "nA")):
        if abs(amps) >= scale:
            return f"{amps / scale:.3g} {unit}"
    return f"{amps:.3g} A"


def format_report(report: Any) -> str:
    """The human table of a `simulate.check.CheckReport`."""
    lines = [f"{'device':<10} {'kind':<5} {'tags':<22} {'region':<15} {'Vgs':>7} {'Vth':>7} {'Vds':>7} "
             f"{'Vdsat':>7} {'margin':>7} {'Id':>10}"]
    for r in report.devices:
        d = r.op
        mark = "" if r.signal_path else " (off path)"
        lines.append(f"{d.name:<10} {d.kind.value:<5} {','.join(r.tags) or '-':<22} {r.region + mark:<15} "
                     f"{d.vgs:7.3f} {d.vth:7.3f} {d.vds:7.3f} {d.vdsat:7.3f} {d.margin:7.3f} {_fmt_current(d.id):>10}")
    if report.currents:
        lines.append("currents: " + ", ".join(f"{k} {_fmt_current(v)}" for k, v in report.currents.items()))
    if math.isfinite(report.gain):
        sign = "positive: negative feedback" if report.gain > 0 else "NEGATIVE: positive feedback"
        lines.append(f"open-loop gain: {report.gain:.4g} V/V ({report.gain_db:.1f} dB), {sign}")
    if math.isfinite(report.output_cm):
        lines.append(f"output common mode: {report.output_cm:.3f} V")
    worst = report.smallest_margin()
    if worst is not None and math.isfinite(worst.op.margin):
        lines.append(f"smallest signal-path margin: {worst.op.margin:.3f} V ({worst.op.name})")
    lines += [f"note: {n}" for n in report.notes]
    if report.ok:
        lines.append(f"{report.design}: ok, can be labelled")
    else:
        lines += [f"{report.design}: cannot be labelled: {p}" for p in report.problems]
    return "\n".join(lines)


def _with_testbench(circuit: Circuit, path: Path | None) -> tuple[Circuit, list[str]]:
    if path is None:
        return circuit, []
    from placeq.testbench_draft import resolve_testbench

    tb, notes = resolve_testbench(circuit, path)
    return circuit.model_copy(update={"testbench": tb}), notes


def run(args: argparse.Namespace) -> int:
    from placeq.circuits import load_design
    from simulate.check import check_design, fix_bias
    from simulate.techfile import load_tech

    circuit, notes = _with_testbench(load_design(args.design), args.testbench)
    if circuit.testbench is None:
        raise InputError("testbench", f"{circuit.name} has no testbench: give --testbench FILE (the authors' "
                         "*_test.sp or a testbench JSON), or import it with placeq import-netlist --testbench")
    tech = load_tech(args.tech)
    fixed_note = ""
    if args.fix_bias:
        target = args.output or Path(args.design)
        if args.output is None and not target.is_file():
            raise InputError("output", f"{args.design} is a built-in design: give -o FILE for the fixed circuit")
        # A drafted testbench's mid-supply common mode is a guess: sweep it too; a designer's is kept.
        fix = fix_bias(circuit, tech, common_mode=circuit.provenance.get("testbench") == "inferred")
        circuit = circuit.model_copy(update={"testbench": fix.testbench})
        Circuit.model_validate(circuit.model_dump())  # the written file must read back
        target.write_text(circuit.model_dump_json(indent=2) + "\n", encoding="utf-8")
        changed = ", ".join(f"{k} {old:g} -> {new:g}" for k, (old, new) in fix.changed.items()) or "nothing changed"
        fixed_note = (f"--fix-bias: {changed}; smallest signal-path margin {fix.margin_before:.3f} -> "
                      f"{fix.margin_after:.3f} V; written to {target}")
    report = check_design(circuit, tech)
    notes = [*notes, *([fixed_note] if fixed_note else [])]
    if args.json:
        print(json.dumps({**report.to_dict(), "notes": [*notes, *report.notes]}))
    else:
        print("\n".join(notes + [format_report(report)]) if notes else format_report(report))
    return 0 if report.ok else 2
