"""MAGICAL's ``.sym`` file (read by IdeaPlaceEx's ParserSymFile): one constraint per line, ``DevA DevB`` for a
matched pair mirrored about the axis, ``Dev`` for a self-symmetric device; blank lines separate symmetry groups.

Netlists carry no matching constraints, so a `.sym` file is how an imported circuit gets them. The domain has a
single vertical axis per circuit (as the paper's placer), so groups are merged into one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from placeq.domain import Circuit
from placeq.errors import NetlistError
from placeq.textio import read_text


@dataclass(frozen=True)
class Symmetry:
    """Symmetry constraints as read; `lines` maps a device to the line that names it (for error messages)."""

    pairs: tuple[tuple[str, str], ...] = ()
    self_symmetric: tuple[str, ...] = ()
    source: str = "symmetry"
    lines: Mapping[str, int] = field(default_factory=dict)

    def where(self, device: str) -> str:
        line = self.lines.get(device)
        return f"{self.source}:{line}" if line is not None else f"{self.source}.{device}"


def parse_symmetry(text: str, source: str = "symmetry") -> Symmetry:
    """Parse ``.sym`` text; a device named twice or a line of three or more names is an error."""
    pairs: list[tuple[str, str]] = []
    selfs: list[str] = []
    lines: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        words = raw.split()
        if not words or words[0].startswith(("#", "//")):
            continue
        if len(words) > 2:
            raise NetlistError(f"{source}:{lineno}", f"expected 'DEV_A DEV_B' or 'DEV', got {len(words)} names")
        for w in words:
            if w in lines:
                raise NetlistError(f"{source}:{lineno}", f"{w} already constrained on line {lines[w]}")
            lines[w] = lineno
        if len(words) == 2:
            pairs.append((words[0], words[1]))
        else:
            selfs.append(words[0])
    return Symmetry(tuple(pairs), tuple(selfs), source, lines)


def read_symmetry(path: Path) -> Symmetry:
    """Read a MAGICAL ``.sym`` file; errors name ``file:line``."""
    text = read_text(path, NetlistError, "symmetry file")
    return parse_symmetry(text, str(path))


def apply_symmetry(circuit: Circuit, sym: Symmetry) -> Circuit:
    """`circuit` with `sym`'s constraints (replacing any it had); errors name the `.sym` line at fault."""
    kinds = {d.name: d.kind for d in circuit.devices}
    for dev in sym.lines:
        if dev not in kinds:
            raise NetlistError(sym.where(dev), f"device {dev!r} is not in {circuit.name}")
    for a, b in sym.pairs:
        if a == b:
            raise NetlistError(sym.where(a), f"{a} cannot pair with itself")
        if kinds[a] != kinds[b]:
            raise NetlistError(sym.where(a), f"{a} ({kinds[a].value}) and {b} ({kinds[b].value}) differ in kind")
    data = circuit.model_dump()
    data.update(symmetry_pairs=sym.pairs, self_symmetric=sym.self_symmetric)
    try:
        return Circuit.model_validate(data)
    except ValidationError as exc:
        raise NetlistError(sym.source, str(exc.errors()[0]["msg"])) from exc
