"""Netlist text -> `Circuit`: dialect detection, choice of the design's subckt, device kinds, sizes in um.

Kinds come, strongest first, from the UT-AnLay types sidecar, a ``.model``/``model`` statement in the file, the
model name (nch/nfet/nmos/n_* -> NMOS, pch/pfet/pmos/p_* -> PMOS, *cap*/mom/mim -> CAP, *res*/*poly* -> RES),
then the SPICE element letter R/C. Netlists give lengths in metres; the domain keeps um, so ``w=2u`` -> 2.0.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from placeq.domain import KIND_TERMINALS, Circuit, Device, DeviceKind, Subcircuit
from placeq.errors import NetlistError
from placeq.footprint import DEFAULT_L_UM, DEFAULT_W_UM, FIN_WEFF
from placeq.formats import spectre, spice
from placeq.formats._tokens import Card, Dialect, Netlist, Scope, UnknownParameter, logical_lines
from placeq.formats.elements import classify
from placeq.formats.flatten import Element, choose_top, flatten
from placeq.formats.symmetry import Symmetry, apply_symmetry, read_symmetry
from placeq.formats.utanlay import read_channels, read_types

DialectArg = Literal["auto", "spice", "spectre"]

_SPECTRE_HINTS = re.compile(r"^\s*(//|simulator\s+lang\s*=\s*spectre|subckt\s|ends\b|\S+\s*\()", re.M | re.I)
_SPICE_HINTS = re.compile(r"^\s*(\.(subckt|ends|model|param|end|include|lib|option|global)\b|\+)", re.M | re.I)
_MODEL_TYPES: dict[str, DeviceKind] = {
    "nmos": DeviceKind.NMOS, "pmos": DeviceKind.PMOS, "r": DeviceKind.RES, "res": DeviceKind.RES,
    "resistor": DeviceKind.RES, "c": DeviceKind.CAP, "cap": DeviceKind.CAP, "capacitor": DeviceKind.CAP,
}  # fmt: skip
_CAP_NAME = re.compile(r"cap|mom|mim|mos?var|varactor")
_RES_NAME = re.compile(r"res|^r.*poly|^rp|^rn|^rsil|^rhigh|^rm\d")
_NMOS_NAME = re.compile(r"nmos|nfet|nch|^n[_\d]|^n$|_n(?:fet|mos)?$")
_PMOS_NAME = re.compile(r"pmos|pfet|pch|^p[_\d]|^p$|_p(?:fet|mos)?$")
_WIDTH = ("w",)
_LENGTH = ("l",)
_FINGERS = ("nf", "nfing", "fingers")
_FINS = ("nfin", "nfins", "fins")
_MULT = ("m", "multi", "mult")
_UM_PER_M = 1e6


def detect_dialect(text: str) -> Dialect:
    """Spectre if its marks (``//``, ``subckt``, ``name (nets)``) outnumber SPICE's (``.subckt``, ``+``)."""
    spectre_hits = len(_SPECTRE_HINTS.findall(text))
    return "spectre" if spectre_hits > len(_SPICE_HINTS.findall(text)) else "spice"


def infer_kind(model: str | None, letter: str = "", models: Mapping[str, str] | None = None) -> DeviceKind | None:
    """The device kind a model name (or a ``.model`` type, or the SPICE letter R/C) implies; None if unknown."""
    if model is not None:
        m = model.lower()
        declared = (models or {}).get(m)
        if declared is not None and declared in _MODEL_TYPES:
            return _MODEL_TYPES[declared]
        for pattern, kind in (
            (_CAP_NAME, DeviceKind.CAP),
            (_RES_NAME, DeviceKind.RES),
            (_NMOS_NAME, DeviceKind.NMOS),
            (_PMOS_NAME, DeviceKind.PMOS),
        ):
            if pattern.search(m):
                return kind
    return {"R": DeviceKind.RES, "C": DeviceKind.CAP}.get(letter.upper())


def _count(card: Card, key: tuple[str, ...], scope: Scope) -> int:
    for k in key:
        if k in card.params:
            value = scope.evaluate(card.params[k], card.where, k, card.dialect)
            if value != round(value) or value < 1:
                raise NetlistError(card.where, f"{card.name}: {k}={card.params[k]} must be a whole number >= 1")
            return int(round(value))
    return 1


def _length_um(card: Card, key: tuple[str, ...], scope: Scope, scale: float, sizes: _Sizes) -> float | None:
    for k in key:
        if k in card.params:
            try:
                metres = scope.evaluate(card.params[k], card.where, k, card.dialect) * scale
            except UnknownParameter as exc:
                return sizes.fallback(card, k, exc.parameter)
            value = float(f"{metres * _UM_PER_M:.12g}")  # 3e-7 m -> 0.3 um, not 0.30000000000000004
            if value <= 0:
                raise NetlistError(card.where, f"{card.name}: {k}={card.params[k]} must be positive")
            return value
    return None


def _passive_value(card: Card, kind: DeviceKind, scope: Scope) -> float | None:
    keys = ("r", "res", "resistance", "value") if kind is DeviceKind.RES else ("c", "cap", "capacitance", "value")
    raw = list(card.values) + [card.params[k] for k in keys if k in card.params]
    if not raw:
        return None  # PDK cells sized by geometry (UT-AnLay's mom_cap, poly_res): the footprint picks a default
    if len(raw) > 1:
        raise NetlistError(card.where, f"{card.name}: value given twice ({' and '.join(raw)})")
    value = scope.evaluate(raw[0], card.where, "value", card.dialect)
    if value <= 0:
        raise NetlistError(card.where, f"{card.name}: value {raw[0]} must be positive")
    return value


class _Sizes:
    """MOSFET sizes a netlist leaves open: an undefined parameter (``w=w0`` with no ``w0``) or no ``l``. Each gets
    the median of the sizes the netlist does give for that field, else a documented default, and a note that
    says how to set it (``--param w0=VALUE``)."""

    def __init__(self, elements: list[Element], notes: list[str]) -> None:
        self.notes = notes
        self.given: dict[str, list[float]] = {"w": [], "l": []}
        for e in elements:
            for k in self.given:
                if k in e.card.params:
                    try:
                        metres = e.scope.evaluate(e.card.params[k], e.card.where, k, e.card.dialect)
                    except NetlistError:
                        continue
                    self.given[k].append(metres * _UM_PER_M)

    def default(self, field: str) -> float:
        known = sorted(v for v in self.given[field] if v > 0)
        if known:
            return float(f"{known[(len(known) - 1) // 2]:.12g}")  # the lower median: a size the netlist uses
        return DEFAULT_L_UM if field == "l" else DEFAULT_W_UM

    def fallback(self, card: Card, field: str, parameter: str) -> float:
        value = self.default(field)
        self.notes.append(f"{card.where}: {card.name}: {field}={card.params[field]} names undefined parameter "
                          f"{parameter!r}; using {field}={value:g} um (set it with --param {parameter}=VALUE)")
        return value


def _mos_sizes(card: Card, el: Element, nl: Netlist, sizes: _Sizes) -> dict[str, object]:
    """w (total over the fingers of one copy), l, nf and, for FinFETs, nfin (placeq.footprint's fin rules)."""
    nf = _count(card, _FINGERS, el.scope)
    nfin = _count(card, _FINS, el.scope) if any(k in card.params for k in _FINS) else None
    l = _length_um(card, _LENGTH, el.scope, nl.scale, sizes)  # noqa: E741
    if l is None:
        l = sizes.default("l")  # noqa: E741
        sizes.notes.append(f"{card.where}: {card.name}: no l=; using l={l:g} um")
    # A FinFET's fin count decides its width; a w= beside it is the PDK's per-fin number.
    w = float(f"{nf * nfin * FIN_WEFF:.12g}") if nfin is not None else _length_um(card, _WIDTH, el.scope, nl.scale,
                                                                                    sizes)
    if w is None:
        raise NetlistError(card.where, f"{card.name}: a MOSFET needs w= (or nfin= for a FinFET)")
    return {"w": w, "l": l, "nf": nf, "nfin": nfin}


def _device(el: Element, kind: DeviceKind, nl: Netlist, sizes: _Sizes) -> Device:
    card = el.card
    terminals = KIND_TERMINALS[kind]
    minimum = 3 if kind in (DeviceKind.NMOS, DeviceKind.PMOS) else 2
    if not minimum <= len(card.nets) <= len(terminals):
        want = " ".join(terminals) if minimum == len(terminals) else f"{' '.join(terminals[:minimum])} [B]"
        raise NetlistError(card.where, f"{card.name}: a {kind.value} has nets ({want}), got {len(card.nets)}")
    fields: dict[str, object] = {
        "name": card.name,
        "kind": kind,
        "terminals": dict(zip(terminals, card.nets, strict=False)),
        "model": card.master,
        "m": _count(card, _MULT, el.scope) * el.m,
    }
    if kind in (DeviceKind.NMOS, DeviceKind.PMOS):
        fields.update(_mos_sizes(card, el, nl, sizes))
    else:
        fields["value"] = _passive_value(card, kind, el.scope)
    try:
        return Device.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise NetlistError(card.where, f"{card.name}: {loc + ': ' if loc else ''}{err['msg']}") from exc


def _sanitize(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", stem)[:128] or "netlist"


def build_circuit(
    text: str,
    *,
    source: str,
    name: str | None,
    types: Mapping[str, DeviceKind] | None,
    channels: Mapping[str, tuple[Subcircuit, ...]] | None,
    symmetry: Symmetry | None,
    dialect: DialectArg,
    types_field: str,
    channels_field: str,
    types_hint: str,
    params: Mapping[str, str] | None = None,
    keep: Collection[str] = (),
    drop: Collection[str] = (),
    notes: list[str] | None = None,
) -> Circuit:
    """Parse, pick the design's cell, flatten it, sort its elements (placeq.formats.elements), build and
    validate devices; sidecar errors are named with the given prefixes. What the reader decided for the user
    (a dropped source, a shorted probe, a size it had to assume) is appended to `notes`.

    `types_hint` (a format string over ``{device}``) ends the "cannot tell the device kind" message with where this
    caller gives kinds: the API's ``types`` field and the CLI's ``--types`` file are different places, and the
    message must send the user to the one they can edit.
    """
    nl = parse_cards(text, source, dialect)
    sub, ports, cards = choose_top(nl, name, source)
    elements = flatten(nl, sub, cards, ports, dict(params or {}))
    _refuse_testbench(elements, nl, sub or source)
    said = nl.notes
    types = types or {}
    sizes = _Sizes(elements, said)
    devices: list[Device] = []
    shorts: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for el in elements:
        card = el.card
        if card.name in seen:
            raise NetlistError(card.where, f"device {card.name} already defined at {seen[card.name]}")
        seen[card.name] = card.where
        action, why = ("device", "") if card.name in types else classify(card, keep=keep, drop=drop)
        if action != "device":
            said.append(f"{card.where}: {card.name}: {action} ({why})")
            if action == "short":
                shorts.append((card.nets[0], card.nets[1]))
            continue
        kind = types.get(card.name) or infer_kind(card.master, card.letter or card.name[:1], nl.models)
        if kind is None:
            raise NetlistError(
                card.where,
                f"{card.name}: cannot tell the device kind from model {card.master!r}; "
                + types_hint.format(device=card.name),
            )
        try:
            devices.append(_device(el, kind, nl, sizes))
        except NetlistError as exc:
            if card.name in types:
                origin = f"kind {kind.value} from {types_field}{card.name}"
                raise NetlistError(exc.field, f"{exc.message} ({origin})") from exc
            raise
    if not devices:
        raise NetlistError(source, "no M/R/C devices found" + (f" in subckt {sub}" if sub else ""))
    devices = _join_nets(devices, shorts, ports)
    names = {d.name for d in devices}
    for label, table in ((types_field, types), (channels_field, channels or {})):
        for dev in table:
            if dev not in names:
                raise NetlistError(f"{label}{dev}", f"device {dev!r} is not in the netlist")
    if channels:
        devices = [d.model_copy(update={"tags": tuple(channels.get(d.name, ()))}) for d in devices]
    circuit_name = name or sub or _sanitize(Path(source).stem if source != "<string>" else "netlist")
    try:
        circuit = Circuit(name=circuit_name, ports=ports, devices=tuple(devices),
                          provenance={"tags": "given"} if channels else {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise NetlistError(source, f"{loc + ': ' if loc else ''}{err['msg']}") from exc
    if notes is not None:
        notes.extend(said)
    return circuit if symmetry is None else apply_symmetry(circuit, symmetry, notes=notes)


def parse_cards(text: str, source: str, dialect: DialectArg = "auto") -> Netlist:
    """Every card, subckt and parameter of SPICE or Spectre text, before any design is chosen (the design
    import and the testbench reader share this one reader)."""
    nl = Netlist()
    for line in logical_lines(text, detect_dialect(text) if dialect == "auto" else dialect, source):
        if line.dialect == "spice":
            if spice.is_title(line):
                continue
            if not spice.handle(line, nl, source):
                break
        else:
            spectre.handle(line, nl, source)
    if nl.current is not None:
        raise NetlistError(nl.subckt_where[nl.current], f"subckt {nl.current!r} opened here has no ends")
    return nl


_TESTBENCH_SOURCES = 2  # independent sources that make a cell a testbench rather than an amplifier


def _refuse_testbench(elements: list[Element], nl: Netlist, where: str) -> None:
    """A testbench (sources around an instance of a cell this file does not define) is not a design to place."""
    sources = [e.card.name for e in elements if classify(e.card)[1].endswith("not the layout's")]
    foreign = sorted({e.card.master or "" for e in elements if e.card.letter in ("X", "") and e.card.master
                      and infer_kind(e.card.master, "", nl.models) is None
                      and classify(e.card)[0] == "device"})
    if len(sources) >= _TESTBENCH_SOURCES and foreign:
        raise NetlistError(where, f"this is a testbench ({len(sources)} sources: {', '.join(sources[:4])}..., "
                                  f"around {', '.join(foreign)}, defined elsewhere): import the design's netlist "
                                  "and give this file as its testbench (--testbench)")


def _join_nets(devices: list[Device], shorts: list[tuple[str, str]], ports: tuple[str, ...]) -> list[Device]:
    """Nets joined by shorted elements become one, named by a port when one of them is (else the first)."""
    if not shorts:
        return devices
    parent: dict[str, str] = {}

    def root(n: str) -> str:
        while parent.get(n, n) != n:
            n = parent[n]
        return n

    for a, b in shorts:
        ra, rb = root(a), root(b)
        if ra != rb:
            keep, gone = (rb, ra) if rb in ports and ra not in ports else (ra, rb)
            parent[gone] = keep
    return [d.model_copy(update={"terminals": {t: root(n) for t, n in d.terminals.items()}}) for d in devices]


def parse_netlist(
    text: str,
    *,
    source: str = "<string>",
    name: str | None = None,
    types: Mapping[str, DeviceKind] | None = None,
    channels: Mapping[str, tuple[Subcircuit, ...]] | None = None,
    symmetry: Symmetry | None = None,
    dialect: DialectArg = "auto",
    params: Mapping[str, str] | None = None,
    keep: Collection[str] = (),
    drop: Collection[str] = (),
    notes: list[str] | None = None,
) -> Circuit:
    """A `Circuit` from SPICE or Spectre text (e.g. an uploaded netlist); errors name ``source:line``.

    `name` picks the design's subckt when the file defines several, and names the circuit. `types` overrides
    inferred kinds, `channels` tags devices; a device they name that is not in the netlist is an error naming
    ``types.DEV`` / ``channels.DEV``. Symmetry and critical nets are not in netlists: pass `symmetry` or set them
    on the result.
    """
    return build_circuit(
        text,
        source=source,
        name=name,
        types=types,
        channels=channels,
        symmetry=symmetry,
        dialect=dialect,
        types_field="types.",
        channels_field="channels.",
        types_hint='give it in the `types` field, e.g. {{"{device}": "NMOS"}} (NMOS/PMOS/CAP/RES)',
        params=params,
        keep=keep,
        drop=drop,
        notes=notes,
    )


def read_netlist(
    path: Path,
    *,
    types: Path | None = None,
    channels: Path | None = None,
    symmetry: Path | None = None,
    name: str | None = None,
    dialect: DialectArg = "auto",
    params: Mapping[str, str] | None = None,
    keep: Collection[str] = (),
    drop: Collection[str] = (),
    notes: list[str] | None = None,
) -> Circuit:
    """A `Circuit` from a netlist file and optional UT-AnLay ``.json``/``.channel`` sidecars and a constraint file
    (MAGICAL ``.sym`` or ALIGN ``.const.json``). `params` (``--param NAME=VALUE``) override the file's parameters;
    `keep`/`drop` override the element rules (placeq.formats.elements); `notes` receives what was decided.

    Errors name ``netlist:line``, ``types.json:DEV``, ``design.channel:DEV`` or ``design.sym:line``.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise NetlistError(str(path), f"cannot read netlist: {exc.strerror}") from exc
    return build_circuit(
        text,
        source=str(path),
        name=name,
        types=read_types(types) if types is not None else None,
        channels=read_channels(channels) if channels is not None else None,
        symmetry=read_symmetry(symmetry) if symmetry is not None else None,
        dialect=dialect,
        types_field=f"{types}:",
        channels_field=f"{channels}:",
        types_hint="give it in a types file (--types FILE.json, UT-AnLay style: {{\"{device}\": \"NMOS\"}}; "
        "NMOS/PMOS/CAP/RES)",
        params=params,
        keep=keep,
        drop=drop,
        notes=notes,
    )
