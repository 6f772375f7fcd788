"""Hierarchy: pick the design's cell in a file and flatten the subckt instances inside it.

Real netlists wrap stacked or split devices in small subckts (ALIGN's ``n_stack_4``, ``nfet2x``) and instantiate
them with a multiplier. The placer places devices, so instances are expanded: a device ``mi1`` of instance
``xmn1`` becomes ``xmn1_mi1``, an internal net ``inet1`` becomes ``xmn1_inet1``, ports map to the instance's
nets, and an instance's ``m`` multiplies every device inside. A subckt's parameters (``.subckt ... p=1``,
``.param``/``parameters`` inside it) are its defaults; an instance's parameters override them, evaluated where
the instance stands.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from placeq.errors import NetlistError
from placeq.formats._tokens import Card, Netlist, Scope

MAX_DEPTH = 16  # deeper instance chains are a recursive definition
GLOBAL_NETS = frozenset({"0", "gnd", "gnd!"})


@dataclass(frozen=True)
class Element:
    """A card of the flattened design, with the parameters and the multiplier that apply to it."""

    card: Card
    scope: Scope
    m: int = 1


def subckt_named(nl: Netlist, master: str | None) -> str | None:
    """The subckt a master names in this file (case-insensitive, as SPICE and Spectre compare), else None."""
    if master is None:
        return None
    folded = {s.lower(): s for s in nl.subckts}
    return folded.get(master.lower())


def is_instance(nl: Netlist, card: Card) -> bool:
    """An instance of a subckt defined in the file (SPICE ``X`` or a Spectre master naming one)."""
    return card.letter in ("X", "") and subckt_named(nl, card.master) is not None


def choose_top(nl: Netlist, name: str | None, source: str) -> tuple[str | None, tuple[str, ...], list[Card]]:
    """(subckt or None for top level, ports, cards) of the design: the named subckt; else the only one; else the
    one subckt no other instantiates (the hierarchy's root); else the file's top-level cards."""
    defined = {k: v for k, v in nl.subckts.items() if v[1]}
    if name is not None:
        sub = subckt_named(nl, name)
        if sub is not None:
            return sub, *nl.subckts[sub]
    if len(defined) == 1:
        sub, (ports, cards) = next(iter(defined.items()))
        return sub, ports, cards
    if len(defined) > 1:
        used = {subckt_named(nl, c.master) for _, cards in nl.subckts.values() for c in cards}
        roots = [s for s in defined if s not in used]
        if len(roots) == 1:
            nl.notes.append(f"{source}: design is subckt {roots[0]!r}, the root of {len(defined)} subckts")
            return roots[0], *nl.subckts[roots[0]]
        raise NetlistError(source, f"several subckts ({', '.join(roots or list(defined))}): name the design to import")
    return None, (), nl.top


def flatten(nl: Netlist, top: str | None, cards: list[Card], ports: tuple[str, ...],
            overrides: dict[str, str] | None = None) -> list[Element]:
    """The design's cards with every instance of a file-defined subckt expanded (see the module docstring).
    The design's own parameter defaults apply, then `overrides` (``--param NAME=VALUE``) over everything."""
    scope = Scope(dict(nl.scope.values))
    for key, (value, dialect) in (nl.subckt_params.get(top, {}) if top else {}).items():
        scope.define(key, value, nl.subckt_where[top] if top else "", dialect)
    for key, value in (overrides or {}).items():
        scope.define(key, value, f"--param {key}", "spice")
    return _expand(nl, cards, scope, prefix="", net_map={p: p for p in ports}, m=1, depth=0)


def _expand(nl: Netlist, cards: list[Card], scope: Scope, *, prefix: str, net_map: dict[str, str], m: int,
            depth: int) -> list[Element]:
    out: list[Element] = []

    def net(n: str) -> str:
        if n in net_map:
            return net_map[n]
        return n if not prefix or n.lower() in GLOBAL_NETS else f"{prefix}{n}"

    for card in cards:
        if not is_instance(nl, card):
            out.append(Element(replace(card, name=f"{prefix}{card.name}", nets=tuple(net(n) for n in card.nets)),
                               scope, m))
            continue
        if depth >= MAX_DEPTH:
            raise NetlistError(card.where, f"{card.name}: subckts nested deeper than {MAX_DEPTH} (recursive?)")
        sub = subckt_named(nl, card.master)
        assert sub is not None  # is_instance
        sub_ports, sub_cards = nl.subckts[sub]
        if len(card.nets) != len(sub_ports):
            raise NetlistError(card.where, f"{card.name}: {len(card.nets)} nets for subckt {sub} of "
                                           f"{len(sub_ports)} ports ({' '.join(sub_ports)})")
        inner = Scope(dict(scope.values))
        for key, (value, dialect) in nl.subckt_params.get(sub, {}).items():
            if key not in card.params:  # an instance's value replaces the default (which may not even evaluate)
                inner.define(key, value, nl.subckt_where[sub], dialect)
        times = 1
        for key, value in card.params.items():
            evaluated = scope.evaluate(value, card.where, key, card.dialect)
            if key in ("m", "mult", "multi"):
                if evaluated != round(evaluated) or evaluated < 1:
                    raise NetlistError(card.where, f"{card.name}: {key}={value} must be a whole number >= 1")
                times = int(round(evaluated))
            inner.values[key] = evaluated
        mapping = {p: net(n) for p, n in zip(sub_ports, card.nets, strict=True)}
        out += _expand(nl, sub_cards, inner, prefix=f"{prefix}{card.name}_", net_map=mapping, m=m * times,
                       depth=depth + 1)
    return out
