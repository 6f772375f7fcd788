"""Can this design be labelled? The nominal operating point judged the way the labeller's numbers depend on it.

A label is an offset (or CMRR) measured in unity feedback, so it means something only when (issue 12):
- every net has a DC path to a source: a net reached only through gates and capacitor plates (a bias port fed by a
  current, an undriven port) makes the matrix singular, and ngspice's gmin or transient-op rescue then returns
  numbers (a gate at 455 V) that look like an op;
- the op is finite: a NaN anywhere poisons every derived value;
- the signal-path MOSFETs (tags first_stage / other_stage; every MOSFET when nothing is tagged) are saturated,
  |Vds| - |Vdsat| >= `MIN_MARGIN_V` (the margin docs/simulator.md checks for the built-in designs): in triode the
  gain collapses and the "offset" is the amplifier's clipping;
- the feedback is negative: with the inputs swapped the loop is positive, and a symmetric netlist still converges
  to its balanced (unstable) point, so the op alone looks fine; the open-loop gain's sign tells;
- the open-loop gain is at least `MIN_GAIN_DB`: the unity-feedback output is Vos * A / (1 + A), 1% low at 40 dB.
Each failed rule is a `problems` line naming the net, device or number, so `placeq check` exits 2 with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from placeq.domain import Circuit, DeviceKind, Subcircuit, Testbench
from placeq.errors import InputError
from simulate.operating_point import DeviceOp, OperatingPoint, Variant, nominal_deck, run_deck
from simulate.techfile import Tech, load_tech

MIN_MARGIN_V = 0.05
MIN_GAIN_DB = 40.0
_SIGNAL = (Subcircuit.FIRST_STAGE, Subcircuit.OTHER_STAGE)


@dataclass(frozen=True)
class DeviceRow:
    """A MOSFET's line of the check table."""

    op: DeviceOp
    tags: tuple[str, ...]
    signal_path: bool
    region: str  # saturation / triode / near triode / weak inversion

    def to_dict(self) -> dict[str, object]:
        d = self.op
        return {"device": d.name, "kind": d.kind.value, "tags": list(self.tags), "signal_path": self.signal_path,
                "region": self.region, "vgs": d.vgs, "vth": d.vth, "vds": d.vds, "vdsat": d.vdsat,
                "margin": d.margin, "id": d.id}


@dataclass(frozen=True)
class CheckReport:
    """The nominal operating point of one design and the verdict; `ok` when the design can be labelled."""

    design: str
    devices: tuple[DeviceRow, ...] = ()
    currents: dict[str, float] = field(default_factory=dict)  # "VDD supply" -> A it delivers into the circuit
    gain: float = math.nan  # open-loop DC gain, signed (V/V)
    output_cm: float = math.nan  # V
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def gain_db(self) -> float:
        return 20.0 * math.log10(abs(self.gain)) if self.gain and math.isfinite(self.gain) else math.nan

    def smallest_margin(self, signal_only: bool = True) -> DeviceRow | None:
        rows = [r for r in self.devices if r.signal_path or not signal_only]
        return min(rows, key=lambda r: r.op.margin if math.isfinite(r.op.margin) else -math.inf, default=None)

    def to_dict(self) -> dict[str, object]:
        worst = self.smallest_margin()
        return {"design": self.design, "ok": self.ok, "problems": list(self.problems), "notes": list(self.notes),
                "loop_gain": _finite(self.gain), "loop_gain_db": _finite(self.gain_db),
                "output_common_mode": _finite(self.output_cm),
                "smallest_margin": None if worst is None else {"device": worst.op.name,
                                                               "margin": _finite(worst.op.margin)},
                "currents": {k: _finite(v) for k, v in self.currents.items()},
                "devices": [r.to_dict() for r in self.devices]}


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def floating_nets(circuit: Circuit) -> dict[str, list[str]]:
    """Nets with no DC path to a voltage source -> the device terminals they touch (e.g. ``M9.G``).

    DC paths: MOSFET channels (drain-source, whether the device is on or not) and resistor bodies; voltage sources:
    the testbench's supplies, bias voltages and inputs (driven by the feedback sources). A current source is no path.
    Bulk terminals do not count (the junctions are reverse biased).
    """
    tb = circuit.testbench
    parent = {n: n for n in circuit.nets()}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for d in circuit.devices:
        ends = ("D", "S") if d.is_mos else ("PLUS", "MINUS") if d.kind is DeviceKind.RES else ()
        if len(ends) == 2:
            parent[root(d.terminals[ends[0]])] = root(d.terminals[ends[1]])
    driven = set() if tb is None else {*tb.supplies, *tb.bias_voltages, *tb.inputs}
    grounded = {root(n) for n in driven if n in parent}
    out: dict[str, list[str]] = {}
    for d in circuit.devices:
        for term, net in d.terminals.items():
            if term != "B" and root(net) not in grounded:
                out.setdefault(net, []).append(f"{d.name}.{term}")
    return out


def _region(d: DeviceOp) -> str:
    if not (math.isfinite(d.margin) and math.isfinite(d.overdrive)):
        return "unknown"
    if d.margin < 0:
        return "triode"
    if d.margin < MIN_MARGIN_V:
        return "near triode"
    return "saturation" if d.overdrive >= 0 else "weak inversion"


def signal_path(circuit: Circuit) -> set[str]:
    """MOSFETs whose saturation the labels need: tagged first/other stage, or every MOSFET if none is tagged."""
    mos = [d for d in circuit.devices if d.is_mos]
    if not any(d.tags for d in mos):
        return {d.name for d in mos}
    return {d.name for d in mos if any(t in _SIGNAL for t in d.tags)}


def judge(circuit: Circuit, op: OperatingPoint) -> CheckReport:
    """The report of one operating point: the table and every reason it cannot be labelled."""
    tb = circuit.testbench
    if tb is None:
        raise InputError("testbench", f"{circuit.name} has no testbench: nothing to check")
    problems: list[str] = []
    notes: list[str] = []
    if not op.converged:
        why = "; ".join(op.errors[:3]) or "no operating point printed"
        return CheckReport(design=circuit.name, problems=(f"the operating point did not converge: {why}",))
    if op.nonfinite:
        problems.append(f"NaN in the operating point: {', '.join(op.nonfinite[:8])} "
                        f"({len(op.nonfinite)} non-finite values): the labels would be garbage")
    path = signal_path(circuit)
    if not any(d.tags for d in circuit.devices if d.is_mos):
        notes.append("no MOSFET carries a subcircuit tag: every MOSFET is judged as signal path")
    by_name = {d.name: d for d in circuit.devices}
    rows = tuple(DeviceRow(op=d, tags=tuple(t.value for t in by_name[d.name].tags), signal_path=d.name in path,
                           region=_region(d)) for d in op.devices)
    bad = [r for r in rows if r.signal_path and r.region in ("triode", "near triode", "unknown")]
    if bad:
        listed = ", ".join(f"{r.op.name} ({r.region}, |Vds|-Vdsat {r.op.margin * 1e3:+.0f} mV)" for r in bad[:6])
        problems.append(f"{len(bad)} signal-path device(s) not saturated (margin < {MIN_MARGIN_V * 1e3:.0f} mV): "
                        f"{listed}")
    lo, hi = min(tb.supplies.values()), max(tb.supplies.values())
    outside = [f"{n} {v:.3g} V" for n, v in op.voltages.items() if math.isfinite(v) and not lo - 0.05 <= v <= hi + 0.05]
    if outside:
        problems.append(f"nodes outside the supply rails [{lo:g}, {hi:g}] V: {', '.join(outside[:6])}")
    gain = op.gain
    if math.isfinite(gain):
        if gain < 0:
            problems.append(f"feedback of the wrong polarity: {tb.outputs[0]} falls when {tb.inputs[0]} rises "
                            f"(open-loop gain {gain:.3g}); the inputs are swapped: give testbench.inputs as "
                            f"[{tb.inputs[1]}, {tb.inputs[0]}]")
        elif 20 * math.log10(max(gain, 1e-30)) < MIN_GAIN_DB:
            problems.append(f"open-loop gain {20 * math.log10(max(gain, 1e-30)):.1f} dB < {MIN_GAIN_DB:.0f} dB: the "
                            f"unity-feedback offset would be {100 / (1 + gain):.1f}% off (or more)")
    elif not op.nonfinite:
        problems.append("no open-loop gain: the 1 Hz AC analysis failed")
    outs = [op.voltages.get(n, math.nan) for n in tb.outputs]
    cm = sum(outs) / len(outs)
    currents = {k: -v for k, v in op.currents.items()}  # what each source delivers into the circuit
    return CheckReport(design=circuit.name, devices=rows, currents=currents, gain=gain, output_cm=cm,
                       problems=tuple(problems), notes=tuple(notes))


def check_design(circuit: Circuit, tech: Tech | None = None) -> CheckReport:
    """Check `circuit` as the labeller would simulate it; structural problems first (they need no simulation)."""
    if circuit.testbench is None:
        raise InputError("testbench", f"{circuit.name} has no testbench: nothing to check")
    floating = floating_nets(circuit)
    if floating:
        items = "; ".join(f"{net} (only {', '.join(ts[:4])})" for net, ts in list(floating.items())[:4])
        return CheckReport(design=circuit.name, problems=(
            f"floating node: no DC path to a supply, bias voltage or input from {items}; drive it with a bias "
            "voltage, or connect it",))
    deck = nominal_deck(circuit, tech or load_tech())
    (op,) = run_deck(deck)
    return judge(circuit, op)


SWEEP_PASSES = 2
VOLTAGE_STEPS = 25  # candidates per bias voltage, across the rails
# 0.25x .. 4x the given current: a bias current is a design decision (speed, noise); starving the circuit into weak
# inversion would always win on margin alone
CURRENT_SCALES = tuple(4 ** (k / 8) for k in range(-8, 9))


@dataclass(frozen=True)
class BiasFix:
    """What `--fix-bias` found: the new bias values and the smallest signal-path margin before and after (-inf: no
    usable operating point)."""

    testbench: Testbench
    margin_before: float
    margin_after: float
    changed: dict[str, tuple[float, float]]  # port -> (old, new)


# --fix-bias first raises the smallest signal-path margin to this, then the smallest margin of any MOSFET
FIX_TARGET_V = 2 * MIN_MARGIN_V
_UNUSABLE = (-math.inf, -math.inf)


def _score(path: set[str], op: OperatingPoint) -> tuple[float, float]:
    """What --fix-bias maximizes, compared as a pair: the smallest signal-path margin up to `FIX_TARGET_V`, then the
    smallest margin of any MOSFET (a CMFB or bias device pushed into triode would move the output common mode
    instead). The signal path comes first: a bias device that sits in triode whatever the ports do (a diode stack's
    bottom device) must not steer the sweep away from the devices the labels need. (-inf, -inf) when the op is not
    a usable one (no convergence, a NaN, a gain below `MIN_GAIN_DB` or of the wrong sign)."""
    if not op.converged or op.nonfinite or not op.gain >= 10 ** (MIN_GAIN_DB / 20):
        return _UNUSABLE
    margins = [d.margin for d in op.devices]
    if not margins or not all(math.isfinite(m) for m in margins):
        return _UNUSABLE
    signal = [d.margin for d in op.devices if d.name in path] or margins
    return min(min(signal), FIX_TARGET_V), min(margins)


def _better(a: tuple[float, float], b: tuple[float, float], tol: float = 1e-4) -> bool:
    return a[0] > b[0] + tol or (abs(a[0] - b[0]) <= tol and a[1] > b[1] + tol)


def _signal_margin(path: set[str], op: OperatingPoint) -> float:
    """The smallest signal-path margin (V) of a usable op, else -inf: what `BiasFix` reports."""
    if _score(path, op) == _UNUSABLE:
        return -math.inf
    return min([d.margin for d in op.devices if d.name in path] or [d.margin for d in op.devices])


CM_SOURCE = "vcm"  # the testbench's input common-mode source (simulate.testbench)


def fix_bias(circuit: Circuit, tech: Tech | None = None, *, common_mode: bool = False) -> BiasFix:
    """Sweep each given bias port (coordinate by coordinate, `SWEEP_PASSES` times) to the value that maximizes the
    smallest signal-path saturation margin (up to `FIX_TARGET_V`, then the smallest margin of any MOSFET: `_score`);
    the other ports stay where they are while one moves.

    The testbench's own bias_voltages and bias_currents move; supplies never do (the designer's operating
    conditions), and the input common mode only with `common_mode` (a drafted testbench's mid-supply guess, not a
    designer's choice). A candidate whose op fails, holds a NaN or flips the loop's sign or drops the open-loop
    gain below `MIN_GAIN_DB` scores -inf and is never taken.
    """
    tb = circuit.testbench
    if tb is None:
        raise InputError("testbench", f"{circuit.name} has no testbench: nothing to sweep")
    if not tb.bias_voltages and not tb.bias_currents and not common_mode:
        raise InputError("testbench", "no bias_voltages or bias_currents to sweep: --fix-bias needs at least one")
    deck = nominal_deck(circuit, tech or load_tech())
    node = deck.node
    lo, hi = min(tb.supplies.values()), max(tb.supplies.values())
    values: dict[str, float] = {f"vbias_{node[n]}": v for n, v in tb.bias_voltages.items()}
    values |= {f"ibias_{node[n]}": v for n, v in tb.bias_currents.items()}
    if common_mode:
        values[CM_SOURCE] = tb.common_mode
    given = dict(values)
    path = signal_path(circuit)
    (first,) = run_deck(deck, [values])
    best = _score(path, first)
    before = _signal_margin(path, first)
    for _ in range(SWEEP_PASSES):
        for source in list(values):
            if source.startswith("vbias_") or source == CM_SOURCE:
                step = (hi - lo) / (VOLTAGE_STEPS + 1)
                candidates = [lo + step * (k + 1) for k in range(VOLTAGE_STEPS)]
            else:
                candidates = [given[source] * s for s in CURRENT_SCALES]
            variants: list[Variant] = [{**values, source: c} for c in candidates]
            for c, op in zip(candidates, run_deck(deck, variants), strict=True):
                score = _score(path, op)
                if _better(score, best):
                    best, values[source] = score, c
    port = {f"vbias_{node[n]}": n for n in tb.bias_voltages} | {f"ibias_{node[n]}": n for n in tb.bias_currents}
    new_v = {n: float(f"{values[f'vbias_{node[n]}']:.4g}") for n in tb.bias_voltages}
    new_i = {n: float(f"{values[f'ibias_{node[n]}']:.4g}") for n in tb.bias_currents}
    old = {**tb.bias_voltages, **tb.bias_currents}
    changed = {port[s]: (old[port[s]], {**new_v, **new_i}[port[s]]) for s in values
               if s in port and {**new_v, **new_i}[port[s]] != old[port[s]]}
    cm = float(f"{values.get(CM_SOURCE, tb.common_mode):.4g}")
    if cm != tb.common_mode:
        changed["common_mode"] = (tb.common_mode, cm)
    fixed = tb.model_copy(update={"bias_voltages": new_v, "bias_currents": new_i, "common_mode": cm})
    rounded = {f"vbias_{node[n]}": v for n, v in new_v.items()} | {f"ibias_{node[n]}": v for n, v in new_i.items()}
    if common_mode:
        rounded[CM_SOURCE] = cm
    (last,) = run_deck(deck, [rounded])
    return BiasFix(testbench=fixed, margin_before=before, margin_after=_signal_margin(path, last), changed=changed)
