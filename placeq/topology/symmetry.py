"""Matched pairs and self-symmetric devices, grown from the input pair over mirrored nets."""

from __future__ import annotations

from placeq.domain import Circuit, Device
from placeq.topology.graph import MOS, size_key
from placeq.topology.roles import find_input_pair


def find_symmetry(circuit: Circuit, pair: tuple[Device, Device], supplies: set[str]) -> tuple[list[tuple[str, str]],
                                                                                             list[str]]:
    """Matched pairs and self-symmetric devices, grown from the input pair over mirrored nets; when growth stops,
    another differential pair among the devices left (a CMFB amplifier's) seeds it again."""
    mirror: dict[str, str] = {n: n for n in supplies}
    pairs: list[tuple[str, str]] = []
    selfs: list[str] = []
    placed: set[str] = set()
    seed: tuple[Device, Device] | None = pair
    while seed is not None:
        a, b = seed
        for t in a.terminals:
            na, nb = a.terminals[t], b.terminals[t]
            if na not in mirror and nb not in mirror:
                mirror[na], mirror[nb] = nb, na
            elif na == nb:
                mirror.setdefault(na, na)
        pairs.append((a.name, b.name))
        placed |= {a.name, b.name}
        _grow(circuit, mirror, supplies, pairs, selfs, placed)
        rest = Circuit.model_construct(devices=tuple(d for d in circuit.devices if d.name not in placed),
                                       ports=circuit.ports)
        seed = find_input_pair(rest, supplies) if rest.devices else None
    return pairs, selfs


def _grow(circuit: Circuit, mirror: dict[str, str], supplies: set[str], pairs: list[tuple[str, str]],
          selfs: list[str], placed: set[str]) -> None:
    changed = True
    while changed:
        changed = False
        for d in circuit.devices:
            if d.name in placed or not any(n in mirror and n not in supplies for n in d.terminals.values()):
                continue
            image = {t: mirror.get(n) for t, n in d.terminals.items()}
            partner = None
            for e in circuit.devices:
                if e.name in placed or e.name == d.name or size_key(e) != size_key(d):
                    continue
                match = next((o for o in _orientations(e) if all(
                    image[t] in (None, o.get(t)) or (t == "G" and d.terminals[t] == o.get(t))  # a shared-gate mirror
                    for t in d.terminals) and any(image[t] not in (None, d.terminals[t]) and image[t] not in supplies
                                                   for t in d.terminals)), None)
                if match is not None:
                    partner = (e, match)
                    break
            if partner is not None:
                e, match = partner
                for t, n in d.terminals.items():
                    if n not in mirror and match[t] not in mirror:
                        mirror[n], mirror[match[t]] = match[t], n
                pairs.append((d.name, e.name))
                placed |= {d.name, e.name}
                changed = True
            elif any(all(image[t] == o[t] or (image[t] is None and t in ("G", "B")) for t in o)
                     for o in _orientations(d)) and any(mirror.get(n) == n and n not in supplies
                                                        for n in d.terminals.values()):
                selfs.append(d.name)  # on the axis: every mirrored net it touches maps onto itself (a tail)
                placed.add(d.name)
                changed = True


def _orientations(d: Device) -> list[dict[str, str]]:
    """A device's terminal maps as a mirror image may see them: a passive's two ends are interchangeable."""
    t = d.terminals
    if d.kind in MOS:
        return [dict(t)]
    return [dict(t), {**t, "PLUS": t["MINUS"], "MINUS": t["PLUS"]}]
