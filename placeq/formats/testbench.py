"""A design's testbench from its authors' own testbench netlist (`*_test.sp`), or from a testbench JSON file.

MAGICAL-CIRCUITS ships, beside each OTA, the Spectre (or SPICE) testbench its authors simulated: DC sources for the
supplies and references, current sources into the bias ports, the inputs driven around a common-mode source by
VCVS halves (``E0 (IN+ VB net3 VB) vcvs gain=0.5``), load capacitors, and often several copies of the OTA (open
loop, integrator, unity feedback). What is read, for the OTA instance whose ports the testbench drives most
directly (file order breaks ties):
- supplies: ports tied to ground or to a DC voltage source and used as a MOSFET bulk or named like a supply;
- bias_voltages: other ports held by a DC voltage source (VREF, VCM); bias_currents: ports fed by a current
  source (positive into the port, negative out of it, as `Testbench` stores them);
- common_mode: the DC voltage of the input nets, followed through VCVS, series sources and resistors;
- load_cap: the capacitor from an output to ground or a supply;
- inputs and outputs: from the OTA's port names (VIP/VIM, INP/INM, VOP/VOM, ...), because the authors' open-loop
  copies are wired either way round; `placeq check` tells from the loop gain's sign whether the choice holds.
Every value read is reported in the notes with the testbench line it came from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from placeq import ports as roles
from placeq.domain import Circuit, Testbench
from placeq.errors import InputError, NetlistError
from placeq.formats._tokens import Card, Dialect, Scope, parse_number
from placeq.formats.netlist import parse_cards
from placeq.textio import read_text

_GROUND = {"0", "gnd", "gnd!"}
_KINDS = {"vsource": "V", "isource": "I", "vcvs": "E", "resistor": "R", "capacitor": "C"}
_NODES = {"V": 2, "I": 2, "E": 4, "R": 2, "C": 2}


@dataclass(frozen=True)
class Element:
    """One testbench element: kind V/I/E/R/C or X (an instance of `master`), its nodes and parameters."""

    name: str
    kind: str
    nodes: tuple[str, ...]
    master: str
    params: Mapping[str, str]
    where: str  # file:line
    value: str | None = None  # SPICE's positional value (V/I DC, E gain, R/C value)
    dialect: Dialect = "spice"


@dataclass
class _Deck:
    elements: list[Element] = field(default_factory=list)
    scope: Scope = field(default_factory=Scope)  # the testbench's parameters, evaluated
    subckts: set[str] = field(default_factory=set)


def _unescape(net: str) -> str:
    return net.replace("\\", "")


def _element(card: Card) -> Element:
    """A card of the project's netlist reader as a testbench element: SPICE says the kind by its letter (an E
    card's gain is its fifth positional), Spectre by its master."""
    kind = card.letter if card.letter in _NODES else _KINDS.get((card.master or "").lower(), "X")
    count = _NODES.get(kind)
    positional = [*card.nets, *card.values]
    if count is None:
        return Element(card.name, "X", tuple(map(_unescape, card.nets)), card.master or "", card.params, card.where,
                       dialect=card.dialect)
    rest = positional[count:]
    if kind in "VI" and rest and rest[0].lower() == "dc" and len(rest) > 1:
        value: str | None = rest[1]
    else:
        value = next((t for t in rest if parse_number(t, card.dialect) is not None), None)
    return Element(card.name, kind, tuple(map(_unescape, positional[:count])), card.master or "", card.params,
                   card.where, value, card.dialect)


def parse_testbench(text: str, source: str) -> _Deck:
    """Every element, parameter and subckt name of a Spectre or SPICE testbench (every scope, flattened), read by
    the project's netlist reader (`placeq.formats.netlist.parse_cards`)."""
    nl = parse_cards(text, source)
    cards = [*nl.top, *(c for _, cs in nl.subckts.values() for c in cs)]
    return _Deck([_element(c) for c in cards], nl.scope, {s.lower() for s in nl.subckts})


class _Values:
    """DC values of a deck: parameters resolved, node voltages followed through sources and resistors."""

    def __init__(self, deck: _Deck) -> None:
        self.deck = deck

    def number(self, e: Element, text: str | None, default: float | None = None) -> float | None:
        if text is None:
            return default
        try:
            value = self.deck.scope.evaluate(text, e.where, e.name, e.dialect)
        except NetlistError:
            return default
        return float(f"{value:.12g}")  # 20u -> 2e-05, not 1.9999999999999998e-05

    def dc(self, e: Element) -> float | None:
        """A V/I source's DC value (0 for a source with no dc: an AC or sine-only source)."""
        return self.number(e, e.params.get("dc", e.value), 0.0)

    def gain(self, e: Element) -> float | None:
        return self.number(e, e.params.get("gain", e.value))

    def voltage(self, net: str, seen: frozenset[str] = frozenset()) -> tuple[float, str] | None:
        """(DC voltage of `net`, where it comes from) or None when no source sets it."""
        if net.lower() in _GROUND:
            return 0.0, "ground"
        if net in seen:
            return None
        seen = seen | {net}
        for e in self.deck.elements:
            if e.kind == "V" and net in e.nodes[:2]:
                other = e.nodes[1] if e.nodes[0] == net else e.nodes[0]
                ref, dc = self.voltage(other, seen), self.dc(e)
                if ref is not None and dc is not None:
                    return ref[0] + (dc if e.nodes[0] == net else -dc), e.where
            if e.kind == "E" and e.nodes and e.nodes[0] == net and len(e.nodes) == 4:
                parts = [self.voltage(n, seen) for n in e.nodes[1:]]
                gain = self.gain(e)
                if gain is not None and all(p is not None for p in parts):
                    a, b, c = (p[0] for p in parts if p is not None)
                    return a + gain * (b - c), e.where
        for e in self.deck.elements:  # resistors last: a resistor to a driven net carries no current at DC here
            if e.kind == "R" and net in e.nodes[:2]:
                got = self.voltage(e.nodes[1] if e.nodes[0] == net else e.nodes[0], seen)
                if got is not None:
                    return got
        return None


def _instances(deck: _Deck, circuit: Circuit, source: str) -> list[Element]:
    n = len(circuit.ports)
    want = circuit.name.lower()
    xs = [e for e in deck.elements if e.kind == "X" and len(e.nodes) == n]
    named = [e for e in xs if e.master.lower() == want or e.master.lower().startswith(want)
             or want.startswith(e.master.lower())]
    found = named or [e for e in xs if e.master.lower() not in deck.subckts]
    if not circuit.ports:
        raise InputError("circuit.ports", f"{circuit.name} has no ports: a testbench cannot be connected to it")
    if not found:
        masters = sorted({e.master for e in deck.elements if e.kind == "X"})
        raise NetlistError(source, f"no instance of {circuit.name} (with its {n} ports) in the testbench; "
                           f"instances found: {', '.join(masters) or 'none'}")
    return found


def _direct(values: _Values, net: str) -> bool:
    """`net` is driven by a source element itself (not through a resistor or capacitor)."""
    return any(e.kind in "VEI" and e.nodes and net in e.nodes[:2] for e in values.deck.elements)


def _bulk_nets(circuit: Circuit) -> set[str]:
    return {d.terminals["B"] for d in circuit.devices if d.is_mos and "B" in d.terminals}


def read_testbench_with_notes(path: Path, circuit: Circuit) -> tuple[Testbench, list[str]]:
    """The testbench of `circuit` in its authors' testbench netlist, and one note per value read."""
    source = str(path)
    deck = parse_testbench(read_text(path, NetlistError, "testbench netlist"), source)
    values = _Values(deck)
    candidates = _instances(deck, circuit, source)
    inputs = roles.input_pair(circuit.ports)
    if inputs is None:
        raise NetlistError(source, f"cannot tell the inputs of {circuit.name} from its port names "
                           f"{list(circuit.ports)}; give a testbench JSON (--testbench tb.json)")

    def score(inst: Element) -> int:
        nets = dict(zip(circuit.ports, inst.nodes, strict=True))
        return sum(_direct(values, net) for net in nets.values()) + 2 * all(_direct(values, nets[p]) for p in inputs)

    inst = max(candidates, key=score)  # max keeps the first of equal scores: file order
    net_of = dict(zip(circuit.ports, inst.nodes, strict=True))
    notes = [f"testbench: instance {inst.name} of {inst.master} ({inst.where}), the most directly driven of "
             f"{len(candidates)}"]
    outputs = roles.output_ports(circuit.ports)
    if outputs is None:
        raise NetlistError(inst.where, f"cannot tell the outputs of {circuit.name} from its port names "
                           f"{list(circuit.ports)}; give a testbench JSON (--testbench tb.json)")
    bulks = _bulk_nets(circuit)
    supplies: dict[str, float] = {}
    bias_v: dict[str, float] = {}
    bias_i: dict[str, float] = {}
    for port, net in net_of.items():
        if port in inputs or port in outputs:
            continue
        got = values.voltage(net)
        if got is None:
            for e in deck.elements:
                if e.kind == "I" and net in e.nodes[:2] and (amps := values.dc(e)) is not None:
                    bias_i[port] = bias_i.get(port, 0.0) + (amps if e.nodes[1] == net else -amps)
                    notes.append(f"bias_currents.{port} = {bias_i[port]:g} A ({e.name}, {e.where})")
            if port not in bias_i:
                notes.append(f"{port}: not driven by the testbench (net {net}); left open")
            continue
        volts, where = got
        if port in bulks or roles.supply_level(port) is not None:
            supplies[port] = volts
            notes.append(f"supplies.{port} = {volts:g} V ({where})")
        else:
            bias_v[port] = volts
            notes.append(f"bias_voltages.{port} = {volts:g} V ({where})")
    if not supplies:
        raise NetlistError(inst.where, f"no supply of {circuit.name} is driven by the testbench")
    cms = [values.voltage(net_of[p]) for p in inputs]
    if any(c is None for c in cms):
        raise NetlistError(inst.where, f"the inputs {list(inputs)} have no DC voltage in the testbench")
    common_mode = sum(c[0] for c in cms if c is not None) / 2
    notes.append(f"common_mode = {common_mode:g} V (the DC voltage of {net_of[inputs[0]]}, {net_of[inputs[1]]})")
    notes.append(f"inputs = {list(inputs)}, outputs = {list(outputs)} (from the port names)")
    loads = [values.number(e, e.params.get("c", e.value)) for e in deck.elements if e.kind == "C"
             and any(net_of[o] in e.nodes[:2] for o in outputs)
             and any(n.lower() in _GROUND or n in {net_of[s] for s in supplies} for n in e.nodes[:2])]
    load = next((c for c in loads if c is not None), None)
    extra = {}
    if load is not None:
        extra["load_cap"] = float(f"{load:.6g}")
        notes.append(f"load_cap = {load:g} F")
    else:
        notes.append("load_cap: no capacitor on the outputs in the testbench; the default 1 pF")
    metric = circuit.testbench.metric if circuit.testbench is not None else "offset"
    try:
        tb = Testbench(metric=metric, inputs=inputs, outputs=outputs, supplies=supplies, common_mode=common_mode,
                       bias_voltages=bias_v, bias_currents=bias_i, **extra)
    except ValidationError as exc:
        raise NetlistError(inst.where, str(exc.errors()[0]["msg"])) from exc
    return tb, notes


def read_testbench(path: Path, circuit: Circuit) -> Testbench:
    """The testbench of `circuit` from its authors' testbench netlist (see the module docstring)."""
    return read_testbench_with_notes(path, circuit)[0]


def testbench_from_json(path: Path) -> Testbench:
    """A `Testbench` JSON file (the fields of docs/circuits.md); errors name the file and the field."""
    text = read_text(path, InputError, "testbench JSON file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}", f"invalid JSON: {exc.msg}") from exc
    if isinstance(data, dict) and isinstance(data.get("testbench"), dict):
        data = data["testbench"]  # a whole circuit JSON: take its testbench
    try:
        return Testbench.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(f"{path}: {'.'.join(str(p) for p in err['loc']) or 'testbench'}", str(err["msg"])) from exc
