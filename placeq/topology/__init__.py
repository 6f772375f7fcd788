"""What a netlist means, read from its graph: supplies, the input pair, symmetry, subcircuit tags, critical nets.

The paper's features need every device tagged with its subcircuit (Sec. III-B: first stage, other stages,
feedback, CMFB, bias) and its placer needs matched pairs and critical nets; UT-AnLay's authors wrote these by
hand. `infer` derives them from the topology, the way an analog designer reads a schematic:

- **Supplies**: nets named like supplies (`placeq.ports`: vdd, vcc, avdd / vss, gnd, 0, vee), those a testbench
  or an ALIGN ``PowerPorts``/``GroundPorts`` constraint names, else the nets most PMOS (NMOS) bulks sit on.
- **Resistor-like MOSFETs**: a MOSFET whose gate sits on the supply that turns it fully on (a PMOS gate on
  ground, an NMOS gate on power) is a resistor in the layout's signal sense (Miller nulling resistors).
- **Input pair**: two MOSFETs of one kind and size whose sources share a non-supply net (the tail) and whose
  gates and drains differ; gates on ports named like inputs (vin/vip/inp/inm, ...) win.
- **Symmetry**: from the input pair outward, nets pair with nets (gate with gate, drain with drain) and a device
  pairs with one of its kind and size whose terminals sit on the mirrored nets; a device whose terminals map
  onto themselves is self-symmetric (the tail source).
- **Stages**: devices that conduct into one another (MOSFET drain-source channels, not through supplies, not
  through passives or gates) form a stage. The input pair's is the first stage; a stage whose devices are gated
  by an earlier stage's outputs is the next, unless its outputs drive gates of an earlier stage (it closes a
  loop: CMFB). Passives: a capacitor between signal nets, and a resistor in series with it, is feedback
  (compensation); equal passives from both nets of a mirrored pair to one node sense the common mode (CMFB);
  a passive inside one stage belongs to it. What is left is bias.
- **Critical nets**: the signal-path nets, first stage first, then later stages, then compensation nodes, then
  CMFB nets: the paper's 14 were the signal-path nets of each OTA.
Every inference is returned with a reason, and the caller stores it with provenance "inferred".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from placeq.domain import Circuit, Device, Subcircuit
from placeq.errors import InputError
from placeq.topology.graph import Topology
from placeq.topology.roles import find_input_pair, find_supplies
from placeq.topology.stages import assign_tags
from placeq.topology.symmetry import find_symmetry

DEFAULT_CRITICAL = 14  # the paper's count: 2^14 = 16,384 placements per design space


def rank_critical_nets(circuit: Circuit, topo: Topology, stages: list[list[Device]]) -> list[str]:
    """Signal-path nets, best first: the first stage's (inputs, tail, cascode nodes, outputs), the later stages',
    compensation nodes, then CMFB nets; within a group by distance from the input pair. A circuit with fewer
    than DEFAULT_CRITICAL of those adds its other non-supply nets last."""
    supplies = topo.supplies
    order: list[str] = []

    def add(nets: Iterable[str]) -> None:
        for n in nets:
            if n not in supplies and n not in order:
                order.append(n)

    for s in stages:
        add(d.terminals["G"] for d in s if topo.input_pair and d.name in topo.input_pair)
        add(t for d in s for t in (d.terminals["S"], d.terminals["D"]))
    for tag in (Subcircuit.FEEDBACK, Subcircuit.CMFB):
        add(n for d in circuit.devices if tag in topo.tags.get(d.name, ()) for n in d.terminals.values())
    if len(order) < DEFAULT_CRITICAL:  # a small circuit: its bias nets widen a design space of few layouts
        add(n for d in circuit.devices for n in d.terminals.values())
    return order


def infer(circuit: Circuit, *, power: Iterable[str] = (), ground: Iterable[str] = (),
          inputs: Iterable[str] = ()) -> Topology:
    """Supplies, input pair, symmetry, tags and ranked critical nets of `circuit` (see the module docstring)."""
    pwr, gnd = find_supplies(circuit, power, ground)
    topo = Topology(power=tuple(pwr), ground=tuple(gnd))
    topo.reasons.append(f"supplies: power {', '.join(pwr) or '-'}; ground {', '.join(gnd) or '-'}")
    pair = find_input_pair(circuit, topo.supplies, inputs)
    if pair is None:
        topo.reasons.append("no differential input pair found: every device tagged bias; give tags (--channels)")
        topo.tags = {d.name: (Subcircuit.BIAS,) for d in circuit.devices}
        return topo
    a, b = pair
    topo.input_pair = (a.name, b.name)
    topo.reasons.append(f"input pair: {a.name} / {b.name} (gates {a.terminals['G']}, {b.terminals['G']}; "
                        f"tail {a.terminals['S']})")
    topo.pairs, topo.self_symmetric = find_symmetry(circuit, pair, topo.supplies)
    topo.reasons.append(f"symmetry: {len(topo.pairs)} pair(s), {len(topo.self_symmetric)} self-symmetric")
    stages = assign_tags(circuit, topo, pair)
    # Bias devices stay off the axis: a diode-connected mirror touching a shared gate net is not a tail.
    topo.self_symmetric = [d for d in topo.self_symmetric if topo.tags.get(d) != (Subcircuit.BIAS,)]
    counts = Counter(t.value for tags in topo.tags.values() for t in tags)
    topo.reasons.append(f"stages: {len(stages)} signal stage(s); tags " +
                        ", ".join(f"{s.value} {counts[s.value]}" for s in Subcircuit if counts[s.value]))
    topo.critical_nets = rank_critical_nets(circuit, topo, stages)
    return topo


def understand(
    circuit: Circuit,
    *,
    critical: int | list[str] | None = None,
    power: Iterable[str] = (),
    ground: Iterable[str] = (),
) -> tuple[Circuit, list[str]]:
    """`circuit` with what its files did not give filled in from `infer`, each part's provenance recorded, and
    the notes that say what was inferred (or why not).

    Tags, symmetry and critical nets that were given (provenance "given", or critical nets already set) are
    kept; an inferred pair the constraint file lacks is reported, not added. `critical`: how many of the ranked
    nets (default min(14, all)), or the nets themselves (checked against the circuit).
    """
    inputs = circuit.testbench.inputs if circuit.testbench else ()
    topo = infer(circuit, power=power, ground=ground, inputs=inputs)
    notes = list(topo.reasons)
    update: dict[str, object] = {}
    provenance = dict(circuit.provenance)
    if provenance.get("tags") != "given" and not any(d.tags for d in circuit.devices):
        update["devices"] = tuple(d.model_copy(update={"tags": topo.tags[d.name]}) for d in circuit.devices)
        provenance["tags"] = "inferred"
    if provenance.get("symmetry") == "given" or circuit.symmetry_pairs or circuit.self_symmetric:
        given = {frozenset(p) for p in circuit.symmetry_pairs}
        extra = [f"{a}/{b}" for a, b in topo.pairs if frozenset((a, b)) not in given]
        if extra:
            shown = ", ".join(extra[:6]) + (f" and {len(extra) - 6} more" if len(extra) > 6 else "")
            notes.append(f"symmetry: kept the given constraints; the topology also matches {shown}")
    elif topo.pairs:
        update.update(symmetry_pairs=tuple(topo.pairs), self_symmetric=tuple(topo.self_symmetric))
        provenance["symmetry"] = "inferred"
    if isinstance(critical, list):
        unknown = [n for n in critical if n not in circuit.nets()]
        if unknown:
            raise InputError("critical_nets", f"nets {unknown} are not in {circuit.name}")
        update["critical_nets"] = tuple(critical)
        provenance["critical_nets"] = "given"
    elif critical is not None or not circuit.critical_nets:
        count = DEFAULT_CRITICAL if critical is None else critical
        chosen = topo.critical_nets[:count]
        update["critical_nets"] = tuple(chosen)
        provenance["critical_nets"] = "inferred"
        notes.append(f"critical nets ({len(chosen)} of {len(topo.critical_nets)} signal-path nets, "
                     f"2^{len(chosen)} = {2 ** len(chosen):,} placements): {', '.join(chosen) or '-'}")
    if not update.get("critical_nets", circuit.critical_nets):
        notes.append("no critical nets: `placeq place` can make one placement only; give --critical-nets NET,...")
    update["provenance"] = provenance
    return Circuit.model_validate({**circuit.model_dump(), **update}), notes


__all__ = ["DEFAULT_CRITICAL", "Topology", "infer", "rank_critical_nets", "understand"]
