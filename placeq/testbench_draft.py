"""A testbench for an imported circuit: given, read from a file, or drafted from port names and topology.

An imported netlist has no testbench, and labelling needs one (supplies, inputs, outputs, common mode, bias
sources). `resolve_testbench` is what `placeq import-netlist --testbench` and `placeq check --testbench` call: a
`.json` file is a `Testbench`, any other file is the authors' testbench netlist (`placeq.formats.testbench`),
and without a file the circuit's own testbench is kept ("given") or a draft is inferred. Every field of a draft
says where it came from ("inferred" from names or topology, or "given"), and the notes say what could not be
inferred: `placeq check` then tells whether the draft biases the circuit sensibly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from placeq import ports as roles
from placeq.domain import Circuit, Device, Testbench
from placeq.errors import InputError

DEFAULT_SUPPLY_V = 1.8  # the supply of simulate/models/bsim4.lib's generic 1.8 V process
DEFAULT_BIAS_A = 20e-6  # the built-in designs' reference current
GATE_BIAS_V = 0.7  # V from the rail: a threshold (~0.45 V in bsim4.lib) plus ~0.25 V overdrive


@dataclass(frozen=True)
class TestbenchDraft:
    """A testbench with the provenance of each field ("inferred" / "given"), or None and what is missing."""

    testbench: Testbench | None
    provenance: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """Human-readable: one line per field with its provenance, then notes and what is missing."""
        out: list[str] = []
        if self.testbench is not None:
            for key, value in self.testbench.model_dump().items():
                out.append(f"testbench.{key} = {value} ({self.provenance.get(key, 'default')})")
        out += [f"note: {n}" for n in self.notes]
        out += [f"missing: {m}" for m in self.missing]
        return out


def _gate_only(circuit: Circuit, net: str) -> str | None:
    """"NMOS" or "PMOS" when `net` touches only gates, all of MOSFETs of that kind; else None."""
    kinds = set()
    for d in circuit.devices:
        for t, n in d.terminals.items():
            if n == net:
                if not d.is_mos or t != "G":
                    return None
                kinds.add(d.kind.value)
    return kinds.pop() if len(kinds) == 1 else None


def _diode(d: Device) -> bool:
    return d.is_mos and d.terminals.get("D") == d.terminals.get("G")


def draft_testbench(circuit: Circuit) -> TestbenchDraft:
    """The circuit's own testbench ("given"), or one inferred from its port names and topology."""
    if circuit.testbench is not None:
        keys = circuit.testbench.model_dump()
        return TestbenchDraft(circuit.testbench, {k: "given" for k in keys}, ("testbench given in the circuit",))
    ports = circuit.ports
    notes: list[str] = []
    missing: list[str] = []
    bulk_of = {d.terminals.get("B"): d.kind.value for d in circuit.devices if d.is_mos}
    supplies: dict[str, float] = {}
    for p in ports:
        level = roles.supply_level(p) or {"PMOS": "high", "NMOS": "low"}.get(bulk_of.get(p, ""))
        if level == "high":
            supplies[p] = DEFAULT_SUPPLY_V
            notes.append(f"supply {p} = {DEFAULT_SUPPLY_V} V: the models' nominal supply (set it in a testbench)")
        elif level == "low":
            supplies[p] = 0.0
    if not supplies:
        missing.append("supplies: no port is named or used like a supply (VDD/VSS/GND, or a MOSFET bulk)")
    inputs = roles.input_pair(ports)
    if inputs is None:
        missing.append(f"inputs: no (positive, negative) input pair among the ports {list(ports)}")
    outputs = roles.output_ports(ports)
    if outputs is None:
        missing.append(f"outputs: no output port among {list(ports)}")
    hi, lo = max(supplies.values(), default=0.0), min(supplies.values(), default=0.0)
    cm = round((hi + lo) / 2, 3)
    bias_v: dict[str, float] = {}
    bias_i: dict[str, float] = {}
    for p in ports:
        if p in supplies or p in (inputs or ()) or p in (outputs or ()):
            continue
        diodes = [d for d in circuit.devices if _diode(d) and d.terminals["D"] == p]
        if roles.is_cm_reference(p):
            bias_v[p] = cm
            notes.append(f"bias voltage {p} = {cm} V: a common-mode reference, held at mid-supply")
        elif diodes:
            sign = 1.0 if diodes[0].kind.value == "NMOS" else -1.0
            bias_i[p] = sign * DEFAULT_BIAS_A
            notes.append(f"bias current {p} = {sign * DEFAULT_BIAS_A:g} A into the diode-connected {diodes[0].name}")
        elif (gated := _gate_only(circuit, p)) is not None:
            # A port that only drives gates is a bias voltage: a starting point one threshold plus overdrive
            # from the rail its devices' sources sit near; `placeq check --fix-bias` sweeps it from there.
            bias_v[p] = round(lo + GATE_BIAS_V, 3) if gated == "NMOS" else round(hi - GATE_BIAS_V, 3)
            notes.append(f"bias voltage {p} = {bias_v[p]} V: it only drives {gated} gates; a starting point "
                         "(placeq check --fix-bias tunes it)")
        else:
            missing.append(f"bias port {p}: neither a reference name, a diode-connected device nor a gate-only "
                           "net; give its voltage or current")
    if missing or inputs is None or outputs is None:
        return TestbenchDraft(None, {}, tuple(notes), tuple(missing))
    tb = Testbench(metric="offset", inputs=inputs, outputs=outputs, supplies=supplies, common_mode=cm,
                   bias_voltages=bias_v, bias_currents=bias_i)
    notes.append(f"common mode {cm} V: mid-supply; inputs {list(inputs)} and outputs {list(outputs)} from the port "
                 "names (placeq check tells from the loop gain's sign whether the polarity holds)")
    provenance = {k: "inferred" for k in tb.model_dump()}
    return TestbenchDraft(tb, provenance, tuple(notes))


def resolve_testbench(circuit: Circuit, path: Path | None) -> tuple[Testbench | None, list[str]]:
    """The testbench for `circuit` and human-readable notes on where each part came from.

    `path`: a testbench JSON file (``.json``), the authors' testbench netlist (any other suffix), or None (keep the
    circuit's own, else draft one). Raises `InputError` naming the file (and line or field) when the file cannot
    be read or names nets the circuit does not have.
    """
    from placeq.formats.testbench import read_testbench_with_notes, testbench_from_json

    if path is None:
        draft = draft_testbench(circuit)
        return draft.testbench, draft.lines()
    if path.suffix.lower() == ".json":
        tb, notes = testbench_from_json(path), [f"testbench: given in {path}"]
    else:
        tb, notes = read_testbench_with_notes(path, circuit)
    nets = set(circuit.nets())
    for key, group in (("inputs", tb.inputs), ("outputs", tb.outputs), ("supplies", tuple(tb.supplies)),
                       ("bias_voltages", tuple(tb.bias_voltages)), ("bias_currents", tuple(tb.bias_currents))):
        unknown = [n for n in group if n not in nets]
        if unknown:
            raise InputError(f"{path}: testbench.{key}", f"nets {unknown} are not in {circuit.name}")
    return tb, notes
