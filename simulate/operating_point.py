"""The operating point of a design's nominal netlist, device by device, and its open-loop gain: what
`placeq check` reports and judges.

One `ngspice -b` process per call runs the nominal netlist (`simulate.nominal`) in the loop-gain testbench
(`simulate.testbench.loop_gain_lines`: the labelling op, with the loop opened at 1 Hz) once per variant of the bias
sources (`alter`, for `--fix-bias` sweeps), and prints every node voltage and source current (`print all`), each
MOSFET's BSIM4 operating-point values (`@m..[vds]`, `[vdsat]`, `[vgs]`, `[vth]`, `[id]`) and the gain.
Why the batch executable and not the shared library the labeller uses (it reads the same `@m..[vdsat]` vectors
when they are `.save`d): a check runs designs nobody has simulated yet, and a fatal netlist error kills
libngspice for the rest of the process (notes, pitfall 5); a child process can die alone. Each op starts after
`destroy all`, so a failed op prints nothing rather than the previous variant's numbers (pitfall 4).
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from placeq.domain import Circuit, DeviceKind
from placeq.errors import InputError
from simulate.netlist import build_template, nominal_values
from simulate.ngspice import run_batch
from simulate.nominal import row_placement
from simulate.techfile import Tech
from simulate.testbench import LOOP_FREQ_HZ, loop_gain_lines

TIMEOUT_S = 300.0
_PARAMS = ("vgs", "vth", "vds", "vdsat", "id")
_LINE = re.compile(r"^(\S+)\s*=\s*(\S+)\s*$", re.MULTILINE)
_ERROR = re.compile(r"singular|no convergence|timestep too small|error|fatal|failed", re.IGNORECASE)

# A variant: the testbench source (its netlist name, e.g. "vbias_vref" or "ibias_vbn") -> its DC value.
Variant = Mapping[str, float]


@dataclass(frozen=True)
class DeviceOp:
    """One MOSFET at the operating point (BSIM4 values; volts and amperes, PMOS values negative)."""

    name: str
    kind: DeviceKind
    vgs: float
    vth: float
    vds: float
    vdsat: float
    id: float

    @property
    def margin(self) -> float:
        """|Vds| - |Vdsat| (V): how far the device is from triode (< 0: in triode)."""
        return abs(self.vds) - abs(self.vdsat)

    @property
    def overdrive(self) -> float:
        """|Vgs| - |Vth| (V): < 0 means weak inversion."""
        return abs(self.vgs) - abs(self.vth)


@dataclass(frozen=True)
class OperatingPoint:
    """What one op (+ the 1 Hz AC) gave; `converged` False when ngspice printed no operating point."""

    converged: bool
    voltages: dict[str, float] = field(default_factory=dict)  # circuit net -> V
    currents: dict[str, float] = field(default_factory=dict)  # "VDD supply" -> A (ngspice: into the + node)
    devices: tuple[DeviceOp, ...] = ()
    gain: float = math.nan  # real part of the open-loop gain at LOOP_FREQ_HZ (the DC gain, signed)
    nonfinite: tuple[str, ...] = ()  # vectors whose value is NaN or infinite
    errors: tuple[str, ...] = ()  # ngspice's complaints (the whole run's)

    def device(self, name: str) -> DeviceOp:
        for d in self.devices:
            if d.name == name:
                return d
        raise KeyError(name)


@dataclass(frozen=True)
class NominalDeck:
    """The netlist and the names needed to read its output."""

    netlist: str  # without .control and .end
    node: dict[str, str]  # circuit net -> netlist node
    mos: tuple[tuple[str, str, DeviceKind], ...]  # (device, netlist instance, kind)
    gain_expr: str
    sources: dict[str, str]  # testbench source (lower case, e.g. vsup_vdd, ibias_vbn) -> "VDD supply", "VBN bias"


def nominal_deck(circuit: Circuit, tech: Tech) -> NominalDeck:
    """The nominal netlist of `circuit` in the loop-gain testbench."""
    if circuit.testbench is None:
        raise InputError("testbench", f"{circuit.name} has no testbench: nothing to check (give one: "
                         "placeq import-netlist --testbench, or a testbench in the circuit JSON)")
    template, _ = build_template(circuit, row_placement(circuit), tech)
    node = dict(zip(circuit.nets(), template.hubs, strict=True))
    bench = loop_gain_lines(circuit.testbench, node, tech.temperature_c)
    template = replace(template, bench=bench)
    text = template.render(nominal_values(template), 0, "nominal placement (placeq check)")
    text = text.removesuffix(".end\n")
    mos = tuple((d.name, f"m{n}_{d.name.lower()}", d.kind) for n, d in enumerate(circuit.devices) if d.is_mos)
    gain = f"v({bench.pos}) - v({bench.neg})" if bench.differential else f"v({bench.pos})"
    tb = circuit.testbench
    sources = {f"vsup_{node[n]}": f"{n} supply" for n in tb.supplies}
    sources |= {f"vbias_{node[n]}": f"{n} bias" for n in tb.bias_voltages}
    sources |= {f"ibias_{node[n]}": f"{n} bias" for n in tb.bias_currents}
    return NominalDeck(netlist=text, node=node, mos=mos, gain_expr=gain, sources=sources)


def _control(deck: NominalDeck, variants: Sequence[Variant]) -> list[str]:
    lines = [".control", "set num_threads=1"]
    for k, variant in enumerate(variants):
        for source, value in variant.items():
            lines.append(f"alter {source} dc = {value!r}")
        lines += ["destroy all", f"echo @@run{k}", "op", "print all"]
        for _, inst, _ in deck.mos:
            lines.append("print " + " ".join(f"@{inst}[{p}]" for p in _PARAMS))
        lines += [f"ac lin 1 {LOOP_FREQ_HZ!r} {LOOP_FREQ_HZ!r}", f"let tb_gain_re = real({deck.gain_expr})",
                  "print tb_gain_re"]
    return [*lines, "quit", ".endc", ".end"]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _parse(chunk: str, deck: NominalDeck, errors: tuple[str, ...]) -> OperatingPoint:
    values = {k.lower(): _number(v) for k, v in _LINE.findall(chunk)}
    hub_of = {v: k for k, v in deck.node.items()}
    voltages = {hub_of[k]: v for k, v in values.items() if k in hub_of}
    if len(voltages) < len(deck.node):
        return OperatingPoint(converged=False, errors=errors)
    currents = {deck.sources[k.removesuffix("#branch")]: v for k, v in values.items()
                if k.endswith("#branch") and k.removesuffix("#branch") in deck.sources}
    devices = []
    for name, inst, kind in deck.mos:
        got = [values.get(f"@{inst}[{p}]", math.nan) for p in _PARAMS]
        devices.append(DeviceOp(name, kind, *got))
    nonfinite = tuple(sorted(k for k, v in values.items() if not math.isfinite(v)))
    return OperatingPoint(converged=True, voltages=voltages, currents=currents, devices=tuple(devices),
                          gain=values.get("tb_gain_re", math.nan), nonfinite=nonfinite, errors=errors)


def run_deck(deck: NominalDeck, variants: Sequence[Variant] = ({},)) -> list[OperatingPoint]:
    """The operating point of every variant (the first usually `{}`: the testbench as given)."""
    with tempfile.TemporaryDirectory(prefix="placeq-check-") as tmp:
        path = Path(tmp) / "check.cir"
        path.write_text(deck.netlist + "\n".join(_control(deck, variants)) + "\n")
        run = run_batch(path, TIMEOUT_S)
    errors = tuple(dict.fromkeys(ln.strip() for ln in run.stderr.splitlines()
                                 if _ERROR.search(ln) and "gmin" not in ln.lower()))
    chunks = re.split(r"^@@run(\d+)\s*$", run.stdout, flags=re.MULTILINE)
    found = {int(chunks[i]): chunks[i + 1] for i in range(1, len(chunks) - 1, 2)}
    return [_parse(found.get(k, ""), deck, errors) for k in range(len(variants))]
