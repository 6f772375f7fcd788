"""Supplies and the differential input pair: where a topology reading starts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from placeq.domain import Circuit, Device, DeviceKind
from placeq.ports import is_input, supply_level
from placeq.topology.graph import MOS, ChannelGraph, drain_nets, size_key


def find_supplies(
    circuit: Circuit, power: Iterable[str] = (), ground: Iterable[str] = ()
) -> tuple[list[str], list[str]]:
    """(power nets, ground nets): given ones, then names, then the nets most PMOS / NMOS bulks sit on."""
    nets = circuit.nets()
    pwr = [n for n in nets if n in set(power) or supply_level(n) == "high"]
    gnd = [n for n in nets if n in set(ground) or supply_level(n) == "low"]
    for kind, out in ((DeviceKind.PMOS, pwr), (DeviceKind.NMOS, gnd)):
        bulks = Counter(d.terminals.get("B") for d in circuit.devices if d.kind is kind and "B" in d.terminals)
        if bulks and not out:
            out.append(str(bulks.most_common(1)[0][0]))
    return pwr, gnd


def find_input_pair(circuit: Circuit, supplies: set[str], inputs: Iterable[str] = ()) -> tuple[Device, Device] | None:
    """The differential input pair (see the module docstring), or None for a circuit without one."""
    wanted = set(inputs)
    ports = set(circuit.ports)
    mos = [d for d in circuit.devices if d.kind in MOS]
    candidates: list[tuple[tuple[int, float], tuple[Device, Device]]] = []
    for i, a in enumerate(mos):
        for b in mos[i + 1:]:
            ta, tb = a.terminals, b.terminals
            if size_key(a) != size_key(b) or ta["S"] != tb["S"] or ta["S"] in supplies:
                continue
            if ta["G"] == tb["G"] or ta["D"] == tb["D"] or ta["G"] in supplies or tb["G"] in supplies:
                continue
            if ta["G"] == ta["D"] or tb["G"] == tb["D"]:
                continue  # diode-connected: a load, not an input
            gates = {ta["G"], tb["G"]}
            score = 10 * len(gates & wanted) + 3 * sum(is_input(g) for g in gates) + len(gates & ports)
            area = (a.w or 0.0) * (a.l or 0.0) * a.m  # ties: input pairs are drawn large, for matching
            candidates.append(((score, area), (a, b)))
    if not candidates:
        return None
    top = max(c[0][0] for c in candidates)
    graph = ChannelGraph(circuit, supplies, set())

    def rank(c: tuple[tuple[int, float], tuple[Device, Device]]) -> tuple[bool, float]:
        # A first stage drives the gates of a next one; a feed-forward pair on the same inputs drives the output.
        stage = graph.component(c[1], set())
        names = {d.name for d in stage}
        feeds = any(e.name not in names for n in drain_nets(stage, supplies) for e in graph.gated.get(n, []))
        return feeds, c[0][1]

    return max((c for c in candidates if c[0][0] == top), key=rank)[1]
