"""The graph a topology reading walks: what was found (`Topology`), device roles, and channel connectivity."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from placeq.domain import Circuit, Device, DeviceKind, Subcircuit

MOS = (DeviceKind.NMOS, DeviceKind.PMOS)


@dataclass
class Topology:
    """What `infer` found, with one line of reason per finding (printed on import)."""

    power: tuple[str, ...] = ()
    ground: tuple[str, ...] = ()
    input_pair: tuple[str, str] | None = None
    pairs: list[tuple[str, str]] = field(default_factory=list)
    self_symmetric: list[str] = field(default_factory=list)
    tags: dict[str, tuple[Subcircuit, ...]] = field(default_factory=dict)
    critical_nets: list[str] = field(default_factory=list)  # ranked, best first
    reasons: list[str] = field(default_factory=list)

    @property
    def supplies(self) -> set[str]:
        return {*self.power, *self.ground}


def size_key(d: Device) -> tuple[object, ...]:
    return (d.kind, d.w, d.l, d.nf, d.nfin, d.m, d.value)


def resistor_like(d: Device, power: set[str], ground: set[str]) -> bool:
    g = d.terminals.get("G")
    return (d.kind is DeviceKind.PMOS and g in ground) or (d.kind is DeviceKind.NMOS and g in power)


class ChannelGraph:
    """Channel connectivity: which active devices conduct into which nets (supplies cut the graph)."""

    def __init__(self, circuit: Circuit, supplies: set[str], passive_like: set[str]) -> None:
        self.by_net: dict[str, list[Device]] = {}
        self.active = [d for d in circuit.devices if d.kind in MOS and d.name not in passive_like]
        for d in self.active:
            for t in ("D", "S"):
                n = d.terminals[t]
                if n not in supplies:
                    self.by_net.setdefault(n, []).append(d)
        self.gated: dict[str, list[Device]] = {}
        for d in self.active:
            self.gated.setdefault(d.terminals["G"], []).append(d)

    def component(self, seeds: Iterable[Device], taken: set[str]) -> list[Device]:
        out: list[Device] = []
        queue = deque(s for s in seeds if s.name not in taken)
        seen = {d.name for d in queue} | taken
        while queue:
            d = queue.popleft()
            out.append(d)
            for t in ("D", "S"):
                for e in self.by_net.get(d.terminals[t], []):
                    if e.name not in seen:
                        seen.add(e.name)
                        queue.append(e)
        return out


def drain_nets(stage: list[Device], supplies: set[str]) -> set[str]:
    return {d.terminals["D"] for d in stage if d.terminals["D"] not in supplies}
