"""Signal stages, feedback, CMFB and bias: the five subcircuit tags (paper Sec. III-B) from the graph."""

from __future__ import annotations

from placeq.domain import Circuit, Device, DeviceKind, Subcircuit
from placeq.topology.graph import MOS, ChannelGraph, Topology, drain_nets, resistor_like


def assign_tags(circuit: Circuit, topo: Topology, pair: tuple[Device, Device]) -> list[list[Device]]:
    """Tags in `topo.tags` for every device; returns the signal stages in order (first stage first)."""
    supplies = topo.supplies
    power, ground = set(topo.power), set(topo.ground)
    passive_like = {d.name for d in circuit.devices if d.kind in MOS and resistor_like(d, power, ground)}
    graph = ChannelGraph(circuit, supplies, passive_like)
    taken: set[str] = set()
    stages: list[list[Device]] = []
    loops: list[list[Device]] = []
    frontier = [graph.component(pair, taken)]
    while frontier:
        current = frontier.pop(0)
        taken |= {d.name for d in current}
        stages.append(current)
        earlier_gates = {d.terminals["G"] for s in stages for d in s}
        for net in sorted(drain_nets(current, supplies)):
            for seed in graph.gated.get(net, []):
                if seed.name in taken:
                    continue
                nxt = graph.component([seed], taken)
                taken |= {d.name for d in nxt}
                # A stage that drives an earlier stage's gates closes a loop: common-mode feedback.
                (loops if drain_nets(nxt, supplies) & earlier_gates else frontier).append(nxt)
    for i, stage in enumerate(stages):
        for d in stage:
            topo.tags[d.name] = (Subcircuit.FIRST_STAGE if i == 0 else Subcircuit.OTHER_STAGE,)
    sense = _tag_passives(circuit, topo, stages, passive_like)
    signal_gates = {d.terminals["G"] for s in stages for d in s}
    signal_nets = {n for s in stages for d in s for n in (d.terminals["D"], d.terminals["S"])} - supplies
    for d in graph.active:  # what is left: a CMFB amplifier sensing the outputs (or a sense node), else bias
        if d.name in taken:
            continue
        rest = graph.component([d], taken)
        taken |= {e.name for e in rest}
        gates = {e.terminals["G"] for e in rest}
        if drain_nets(rest, supplies) & signal_gates and gates & (sense | signal_nets):
            loops.append(rest)
    for d in (d for loop in loops for d in loop):
        topo.tags[d.name] = (Subcircuit.CMFB,)
    for d in circuit.devices:
        topo.tags.setdefault(d.name, (Subcircuit.BIAS,))
    return stages


def _ends(d: Device) -> tuple[str, str]:
    ts = d.terminals
    return (ts["PLUS"], ts["MINUS"]) if "PLUS" in ts else (ts["D"], ts["S"])


def _chain(seed: set[str], passives: list[Device], stage_of: dict[str, int], exclude: set[str]) -> set[str]:
    """`seed` grown over passives that share a node of their own (no stage net) with one already in it: the
    segments of a split resistor, a nulling resistor in series with its capacitor."""
    out = set(seed)
    while True:
        nodes = {n for d in passives if d.name in out for n in _ends(d) if n not in stage_of}
        new = {d.name for d in passives if d.name not in out and d.name not in exclude and set(_ends(d)) & nodes}
        if not new:
            return out
        out |= new


def _tag_passives(circuit: Circuit, topo: Topology, stages: list[list[Device]], passive_like: set[str]) -> set[str]:
    """Tag passives (and resistor-like MOSFETs); returns the common-mode sense nodes found.

    Order: equal passives from both nets of a mirrored pair into one node sense the common mode (CMFB);
    capacitors touching a signal stage are compensation (feedback), and so is every passive chained to one
    through a node of their own (nulling resistors, nested-Miller links); a passive within one stage is that
    stage's; the rest is bias."""
    supplies = topo.supplies
    stage_of: dict[str, int] = {}
    for i, stage in enumerate(stages):
        for d in stage:
            for t in ("D", "S"):
                stage_of.setdefault(d.terminals[t], i)
    stage_of = {n: i for n, i in stage_of.items() if n not in supplies}
    passives = [d for d in circuit.devices if (d.kind not in MOS or d.name in passive_like)
                and not set(_ends(d)) & supplies]
    mirror = {a: b for x, y in topo.pairs for a, b in ((x, y), (y, x))}
    by_name = {d.name: d for d in circuit.devices}
    sense: set[str] = set()
    for d in passives:
        twin = by_name.get(mirror.get(d.name, ""))
        if twin is None:
            continue
        common = set(_ends(d)) & set(_ends(twin))
        if len(common) == 1 and (node := common.pop()) not in stage_of:
            topo.tags[d.name] = (Subcircuit.CMFB,)  # both sides of a pair into one node: common-mode sense
            sense.add(node)
    sense_caps = _chain({d.name for d in passives if d.name in topo.tags}, passives, stage_of, set())
    for name in sense_caps:
        topo.tags[name] = (Subcircuit.CMFB,)
    feedback = _chain({d.name for d in passives if d.name not in sense_caps and d.kind is DeviceKind.CAP
                       and any(n in stage_of for n in _ends(d))}, passives, stage_of, sense_caps)
    for d in passives:
        if d.name in sense_caps:
            continue
        if d.name in feedback:
            topo.tags[d.name] = (Subcircuit.FEEDBACK,)
            continue
        x, y = (stage_of.get(n) for n in _ends(d))
        if x is not None and x == y:
            topo.tags[d.name] = (Subcircuit.FIRST_STAGE if x == 0 else Subcircuit.OTHER_STAGE,)
        elif x is not None and y is not None:
            topo.tags[d.name] = (Subcircuit.FEEDBACK,)  # between two stages: a compensation or feedback element
    return sense
