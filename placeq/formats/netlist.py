"""Netlist text -> `Circuit`: dialect detection, choice of the design's subckt, device kinds, sizes in um.

Kinds come, strongest first, from the UT-AnLay types sidecar, a ``.model``/``model`` statement in the file, the
model name (nch/nfet/nmos/n_* -> NMOS, pch/pfet/pmos/p_* -> PMOS, *cap*/mom/mim -> CAP, *res*/*poly* -> RES),
then the SPICE element letter R/C. Netlists give lengths in metres; the domain keeps um, so ``w=2u`` -> 2.0.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from placeq.domain import KIND_TERMINALS, Circuit, Device, DeviceKind, Subcircuit
from placeq.errors import NetlistError
from placeq.formats import spectre, spice
from placeq.formats._tokens import Card, Dialect, Netlist, logical_lines
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


def _count(card: Card, key: tuple[str, ...], nl: Netlist) -> int:
    for k in key:
        if k in card.params:
            value = nl.scope.evaluate(card.params[k], card.where, k, card.dialect)
            if value != round(value) or value < 1:
                raise NetlistError(card.where, f"{card.name}: {k}={card.params[k]} must be a whole number >= 1")
            return int(round(value))
    return 1


def _length_um(card: Card, key: tuple[str, ...], nl: Netlist) -> float | None:
    for k in key:
        if k in card.params:
            metres = nl.scope.evaluate(card.params[k], card.where, k, card.dialect) * nl.scale
            value = float(f"{metres * _UM_PER_M:.12g}")  # 3e-7 m -> 0.3 um, not 0.30000000000000004
            if value <= 0:
                raise NetlistError(card.where, f"{card.name}: {k}={card.params[k]} must be positive")
            return value
    return None


def _passive_value(card: Card, kind: DeviceKind, nl: Netlist) -> float | None:
    keys = ("r", "res", "resistance", "value") if kind is DeviceKind.RES else ("c", "cap", "capacitance", "value")
    raw = list(card.values) + [card.params[k] for k in keys if k in card.params]
    if not raw:
        return None  # PDK cells sized by geometry (UT-AnLay's mom_cap, poly_res): the footprint picks a default
    if len(raw) > 1:
        raise NetlistError(card.where, f"{card.name}: value given twice ({' and '.join(raw)})")
    value = nl.scope.evaluate(raw[0], card.where, "value", card.dialect)
    if value <= 0:
        raise NetlistError(card.where, f"{card.name}: value {raw[0]} must be positive")
    return value


def _device(card: Card, kind: DeviceKind, nl: Netlist) -> Device:
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
        "m": _count(card, _MULT, nl),
    }
    if kind in (DeviceKind.NMOS, DeviceKind.PMOS):
        w, l = _length_um(card, _WIDTH, nl), _length_um(card, _LENGTH, nl)  # noqa: E741
        if w is None or l is None:
            raise NetlistError(card.where, f"{card.name}: a MOSFET needs w= and l=")
        fields.update(w=w, l=l, nf=_count(card, _FINGERS, nl))
    else:
        fields["value"] = _passive_value(card, kind, nl)
    try:
        return Device.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise NetlistError(card.where, f"{card.name}: {loc + ': ' if loc else ''}{err['msg']}") from exc


def _scope(nl: Netlist, name: str | None, source: str) -> tuple[str | None, tuple[str, ...], list[Card]]:
    """(subckt name or None for top level, ports, cards) of the design in the file."""
    defined = {k: v for k, v in nl.subckts.items() if v[1]}
    if name is not None:
        for sub, (ports, cards) in nl.subckts.items():
            if sub.lower() == name.lower():
                return sub, ports, cards
    if len(defined) == 1:
        sub, (ports, cards) = next(iter(defined.items()))
        return sub, ports, cards
    if len(defined) > 1:
        raise NetlistError(source, f"several subckts ({', '.join(defined)}): name the design to import")
    return None, (), nl.top


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
) -> Circuit:
    """Parse, pick the design, build and validate devices; sidecar errors are named with the given prefixes.

    `types_hint` (a format string over ``{device}``) ends the "cannot tell the device kind" message with where this
    caller gives kinds: the API's ``types`` field and the CLI's ``--types`` file are different places, and the
    message must send the user to the one they can edit.
    """
    nl = Netlist()
    lines = logical_lines(text, detect_dialect(text) if dialect == "auto" else dialect, source)
    for line in lines:
        if line.dialect == "spice":
            if spice.is_title(line):
                continue
            if not spice.handle(line, nl, source):
                break
        else:
            spectre.handle(line, nl, source)
    if nl.current is not None:
        raise NetlistError(source, f"subckt {nl.current!r} (from {nl.subckt_where[nl.current]}) has no ends")
    sub, ports, cards = _scope(nl, name, source)
    types = types or {}
    devices: list[Device] = []
    seen: dict[str, str] = {}
    for card in cards:
        if card.letter == "X" and card.master is not None and card.master.lower() in {s.lower() for s in nl.subckts}:
            raise NetlistError(card.where, f"{card.name}: hierarchical instance of {card.master}; flatten the netlist")
        if card.letter and card.letter not in "MRCX":
            raise NetlistError(card.where, f"{card.name}: element type {card.letter!r} is not supported (M, R, C)")
        if card.name in seen:
            raise NetlistError(card.where, f"device {card.name} already defined at {seen[card.name]}")
        seen[card.name] = card.where
        kind = types.get(card.name) or infer_kind(card.master, card.letter or card.name[:1], nl.models)
        if kind is None:
            raise NetlistError(
                card.where,
                f"{card.name}: cannot tell the device kind from model {card.master!r}; "
                + types_hint.format(device=card.name),
            )
        try:
            devices.append(_device(card, kind, nl))
        except NetlistError as exc:
            if card.name in types:
                origin = f"kind {kind.value} from {types_field}{card.name}"
                raise NetlistError(exc.field, f"{exc.message} ({origin})") from exc
            raise
    if not devices:
        raise NetlistError(source, "no M/R/C devices found" + (f" in subckt {sub}" if sub else ""))
    names = {d.name for d in devices}
    for label, table in ((types_field, types), (channels_field, channels or {})):
        for dev in table:
            if dev not in names:
                raise NetlistError(f"{label}{dev}", f"device {dev!r} is not in the netlist")
    if channels:
        devices = [d.model_copy(update={"tags": tuple(channels.get(d.name, ()))}) for d in devices]
    circuit_name = name or sub or _sanitize(Path(source).stem if source != "<string>" else "netlist")
    try:
        circuit = Circuit(name=circuit_name, ports=ports, devices=tuple(devices))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise NetlistError(source, f"{loc + ': ' if loc else ''}{err['msg']}") from exc
    return circuit if symmetry is None else apply_symmetry(circuit, symmetry)


def parse_netlist(
    text: str,
    *,
    source: str = "<string>",
    name: str | None = None,
    types: Mapping[str, DeviceKind] | None = None,
    channels: Mapping[str, tuple[Subcircuit, ...]] | None = None,
    symmetry: Symmetry | None = None,
    dialect: DialectArg = "auto",
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
    )


def read_netlist(
    path: Path,
    *,
    types: Path | None = None,
    channels: Path | None = None,
    symmetry: Path | None = None,
    name: str | None = None,
    dialect: DialectArg = "auto",
) -> Circuit:
    """A `Circuit` from a netlist file and optional UT-AnLay ``.json``/``.channel`` and MAGICAL ``.sym`` files.

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
    )
