"""UT-AnLay's sidecar files: ``<design>.json`` (device -> "NMOS"/"PMOS"/"CAP"/"RES") and ``<design>.channel``
(device -> list of channel numbers).

The channels are the paper's functional subcircuits (Sec. III-B), numbered as in UT-AnLay's
benchmark/JsonFile/README.md: 1 first stage, 2 other stages, 3 compensation feedback, 4 CMFB, 5 bias, which is
`placeq.domain.SUBCIRCUITS` order. Errors name ``file:DEVICE`` (or ``file:LINE`` for broken JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from placeq.domain import SUBCIRCUITS, DeviceKind, Subcircuit
from placeq.errors import NetlistError
from placeq.textio import read_text


def _load_object(path: Path) -> dict[str, Any]:
    text = read_text(path, NetlistError, "JSON file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NetlistError(f"{path}:{exc.lineno}", f"invalid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise NetlistError(str(path), f"expected a JSON object (device -> ...), got {type(data).__name__}")
    return data


def parse_types(data: dict[str, Any], field_prefix: str = "types.") -> dict[str, DeviceKind]:
    """Device -> kind from a decoded ``<design>.json``; kinds are case-insensitive."""
    out: dict[str, DeviceKind] = {}
    for device, kind in data.items():
        try:
            out[device] = DeviceKind(str(kind).upper())
        except ValueError:
            allowed = ", ".join(k.value for k in DeviceKind)
            raise NetlistError(f"{field_prefix}{device}", f"kind {kind!r} is not one of {allowed}") from None
    return out


def parse_channels(data: dict[str, Any], field_prefix: str = "channels.") -> dict[str, tuple[Subcircuit, ...]]:
    """Device -> subcircuit tags from a decoded ``<design>.channel`` (a number or a list of numbers 1..5)."""
    out: dict[str, tuple[Subcircuit, ...]] = {}
    n = len(SUBCIRCUITS)
    for device, raw in data.items():
        numbers = raw if isinstance(raw, list) else [raw]
        tags: list[Subcircuit] = []
        for c in numbers:
            if isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= n:
                names = ", ".join(f"{i} {s.value}" for i, s in enumerate(SUBCIRCUITS, start=1))
                raise NetlistError(f"{field_prefix}{device}", f"channel {c!r} is not one of {names}")
            if SUBCIRCUITS[c - 1] in tags:
                raise NetlistError(f"{field_prefix}{device}", f"channel {c} listed twice")
            tags.append(SUBCIRCUITS[c - 1])
        out[device] = tuple(tags)
    return out


def read_types(path: Path) -> dict[str, DeviceKind]:
    """UT-AnLay ``<design>.json``: device -> NMOS/PMOS/CAP/RES."""
    return parse_types(_load_object(path), f"{path}:")


def read_channels(path: Path) -> dict[str, tuple[Subcircuit, ...]]:
    """UT-AnLay ``<design>.channel``: device -> subcircuit tags (channel k = `SUBCIRCUITS[k - 1]`)."""
    return parse_channels(_load_object(path), f"{path}:")
