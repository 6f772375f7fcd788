"""Which netlist elements are layout devices, and what happens to the others (docs/formats.md, "Elements").

An OTA netlist from a real flow holds more than transistors and passives: current probes (Spectre ``iprobe``, a
0 V source used as an ammeter), bias and test sources, controlled sources, ESD or probe diodes, and dummy
devices whose terminals all sit on one net. The rules, in order:

1. ``--drop NAME`` removes a device; ``--keep NAME`` keeps one that rule 4 would drop.
2. **short**: ``iprobe`` and 0 V voltage sources (SPICE ``V`` with no or a zero value, Spectre ``vsource`` with
   ``dc=0`` and no other waveform) join their two nets: they are wires in the layout.
3. **drop**: other independent and controlled sources (V, I, E, F, G, H, B; ``vsource``, ``isource``, ``vcvs``,
   ``vccs``, ``cccs``, ``ccvs``, ``cmdmprobe``), diodes (``D`` or a master named like ``diode``), inductors and
   transmission lines. None is placed; a dropped source leaves its net to the testbench.
4. **dummy**: a MOSFET or passive whose terminals all share one net does nothing electrically (a fill or dummy
   device) and is dropped. A MOSFET with gate on another net (a MOS capacitor) is kept.
Everything else is a device whose kind `placeq.formats.netlist.infer_kind` decides.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Literal

from placeq.formats._tokens import Card, parse_number

Action = Literal["device", "short", "drop"]

_SOURCE_LETTERS = frozenset("VIEFGHB")
_OTHER_LETTERS = frozenset("DLTKOUWSYQJZ")  # diodes, inductors, lines, switches, BJTs, JFETs, MESFETs: not placed
_PROBE_MASTERS = frozenset({"iprobe"})
_SOURCE_MASTERS = frozenset({"vsource", "isource", "vcvs", "vccs", "cccs", "ccvs", "cmdmprobe", "pvcvs", "pvccs",
                             "port", "bsource", "vdc", "idc", "vsin", "vpulse", "ipulse", "isin"})
_DIODE = re.compile(r"diode|^dio|esd", re.IGNORECASE)
_WAVEFORM_KEYS = frozenset({"mag", "ampl", "freq", "type", "val0", "val1", "period", "file", "wave", "sinedc"})


def _zero_volt(card: Card) -> bool:
    """A voltage source that is a wire: no value, or 0 V and no waveform (an ammeter)."""
    dc = card.params.get("dc")
    values = [v for v in card.values if v.lower() != "dc"]
    raw = dc if dc is not None else (values[0] if values else "0")
    if any(k in card.params for k in _WAVEFORM_KEYS - {"type"}):
        return False
    return parse_number(raw, card.dialect) == 0.0


def classify(card: Card, *, keep: Collection[str] = (), drop: Collection[str] = ()) -> tuple[Action, str]:
    """(action, reason) for one card of the design; the reason is printed on import for every non-device."""
    if card.name in drop:
        return "drop", "--drop"
    master = (card.master or "").lower()
    letter = card.letter.upper()
    if master in _PROBE_MASTERS:
        return "short", f"{card.master}: a current probe is a wire"
    is_vsource = letter == "V" or master == "vsource"
    if is_vsource and _zero_volt(card) and len(card.nets) == 2:
        return "short", "0 V source: an ammeter is a wire"
    if letter in _SOURCE_LETTERS or master in _SOURCE_MASTERS:
        return "drop", f"{card.master or letter} source: the testbench's, not the layout's"
    if letter == "D" or _DIODE.search(master):
        return "drop", "diode (ESD or probe): not placed"
    if letter in _OTHER_LETTERS:
        return "drop", f"element type {letter!r}: not placed"
    if len(set(card.nets)) == 1 and len(card.nets) >= 2 and card.name not in keep:
        return "drop", f"dummy: every terminal on net {card.nets[0]!r} (--keep {card.name} to place it)"
    return "device", ""
