"""MAGICAL's ``.sym`` file (read by IdeaPlaceEx's ParserSymFile): one constraint per line, ``DevA DevB`` for a
matched pair mirrored about the axis, ``Dev`` for a self-symmetric device; blank lines separate symmetry groups.

Netlists carry no matching constraints, so a `.sym` file is how an imported circuit gets them. The domain has a
single vertical axis per circuit (as the paper's placer), so groups are merged into one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
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
    power_ports: tuple[str, ...] = ()  # ALIGN PowerPorts / GroundPorts: supply hints for the testbench draft
    ground_ports: tuple[str, ...] = ()

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


def parse_align_constraints(text: str, source: str = "const.json") -> Symmetry:
    """ALIGN's ``<design>.const.json``: a list of constraints, of which ``SymmetricBlocks`` (``pairs``: 2-lists
    are matched pairs, 1-lists self-symmetric), ``CommonCentroid`` and ``SymmetricNets``-free pair groups
    (``instances`` of two devices: a matched pair) and ``PowerPorts`` / ``GroundPorts`` mean something here;
    others (``AspectRatio``, ``DoNotUseLib``, ``GroupBlocks`` of more than two, ...) are placement styles we
    leave to the placer. Errors name ``file[i]``, the constraint's index."""
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NetlistError(f"{source}:{exc.lineno}", f"not JSON: {exc.msg}") from exc
    if isinstance(data, dict):  # newer ALIGN files: {"constraints": [...]}
        data = data.get("constraints", [])
    if not isinstance(data, list):
        raise NetlistError(source, "expected a list of ALIGN constraints")
    pairs: list[tuple[str, str]] = []
    selfs: list[str] = []
    lines: dict[str, int] = {}
    power: list[str] = []
    ground: list[str] = []
    for i, c in enumerate(data):
        if not isinstance(c, dict) or not isinstance(c.get("constraint"), str):
            raise NetlistError(f"{source}[{i}]", "each constraint is an object with a 'constraint' name")
        kind = c["constraint"].lower()
        groups: list[list[str]] = []
        if kind == "symmetricblocks":
            groups = [list(map(str, g)) for g in c.get("pairs", [])]
        elif kind in ("commoncentroid", "groupblocks", "matchblocks") and len(c.get("instances", [])) == 2:
            groups = [list(map(str, c["instances"]))]
        elif kind == "powerports":
            power += [str(x) for x in c.get("ports", [])]
        elif kind == "groundports":
            ground += [str(x) for x in c.get("ports", [])]
        for g in groups:
            if len(g) not in (1, 2):
                raise NetlistError(f"{source}[{i}]", f"a symmetry group holds 1 or 2 devices, got {g}")
            for dev in g:
                if dev in lines:
                    raise NetlistError(f"{source}[{i}]", f"{dev} already constrained in [{lines[dev]}]")
                lines[dev] = i
            if len(g) == 2:
                pairs.append((g[0], g[1]))
            else:
                selfs.append(g[0])
    return Symmetry(tuple(pairs), tuple(selfs), source, lines, tuple(power), tuple(ground))


def read_symmetry(path: Path) -> Symmetry:
    """Read a constraint file: ALIGN ``.json`` (`parse_align_constraints`) or MAGICAL ``.sym``; errors name
    ``file:line`` (``file[i]`` for ALIGN's constraint list)."""
    text = read_text(path, NetlistError, "constraint file")
    if Path(path).suffix.lower() == ".json":
        return parse_align_constraints(text, str(path))
    return parse_symmetry(text, str(path))


def _common_prefix(names: list[str]) -> str:
    """The prefix every name shares, cut after its last "_" (MAGICAL's flattened ``<cell>_x<instance>``)."""
    if len(names) < 2:
        return ""
    first, last = min(names), max(names)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[: first.rfind("_", 0, n) + 1]


def _resolver(circuit: Circuit, sym: Symmetry) -> Callable[[str], list[str]]:
    """Name in the constraint file -> device names: as written; else without the flattened prefix the file's
    names share, case-insensitively, without the leading ``x`` of a flattened instance; a resistor the netlist
    splits into segments (``R8`` -> ``R8_1__dmy0``, ``R8_2__dmy0``, ...) stands for all its segments, in order."""
    devices = [d.name for d in circuit.devices]
    folded = {d.lower(): d for d in devices}
    prefix = _common_prefix(list(sym.lines)) if not set(sym.lines) <= set(devices) else ""

    def resolve(name: str) -> list[str]:
        if name in folded.values():
            return [name]
        bare = name[len(prefix):] if prefix and name.startswith(prefix) else name
        for candidate in (bare, bare[1:] if bare[:1].lower() == "x" else bare):
            if candidate.lower() in folded:
                return [folded[candidate.lower()]]
            split = re.compile(rf"^{re.escape(candidate)}_(\d+)(?:__\w+)?$", re.IGNORECASE)
            segments = sorted((int(m.group(1)), d) for d in devices if (m := split.match(d)))
            if segments:
                return [d for _, d in segments]
        return []

    return resolve


def apply_symmetry(circuit: Circuit, sym: Symmetry, *, notes: list[str] | None = None) -> Circuit:
    """`circuit` with `sym`'s constraints (replacing any it had); errors name the `.sym` line at fault.

    Names resolve through `_resolver` (flattened prefixes, split resistors, paired segment by segment). A file
    whose names all carry a flattened prefix may name devices a netlist of another version lacks: those
    constraints are skipped with a note. Otherwise an unknown device is an error.
    """
    if not sym.pairs and not sym.self_symmetric:  # e.g. an ALIGN file of power ports only: nothing given here
        return circuit
    resolve = _resolver(circuit, sym)
    prefixed = not set(sym.lines) <= {d.name for d in circuit.devices} and bool(_common_prefix(list(sym.lines)))
    kinds = {d.name: d.kind for d in circuit.devices}
    pairs: list[tuple[str, str]] = []
    selfs: list[str] = []
    skipped: list[str] = []
    for a, b in sym.pairs:
        ra, rb = resolve(a), resolve(b)
        if not ra or not rb:
            missing = a if not ra else b
            if not prefixed:
                raise NetlistError(sym.where(missing), f"device {missing!r} is not in {circuit.name}")
            skipped.append(missing)
            continue
        if len(ra) != len(rb):
            raise NetlistError(sym.where(a), f"{a} has {len(ra)} segment(s) and {b} {len(rb)}: cannot pair them")
        for da, db in zip(ra, rb, strict=True):
            if da == db:
                raise NetlistError(sym.where(a), f"{a} cannot pair with itself")
            if kinds[da] != kinds[db]:
                raise NetlistError(sym.where(a), f"{a} ({kinds[da].value}) and {b} ({kinds[db].value}) differ in kind")
            pairs.append((da, db))
    for dev in sym.self_symmetric:
        found = resolve(dev)
        if not found:
            if not prefixed:
                raise NetlistError(sym.where(dev), f"device {dev!r} is not in {circuit.name}")
            skipped.append(dev)
        selfs += found
    if skipped and notes is not None:
        notes.append(f"{sym.source}: skipped constraints on {', '.join(skipped)}: not in {circuit.name}")
    data = circuit.model_dump()
    data.update(symmetry_pairs=tuple(pairs), self_symmetric=tuple(selfs),
                provenance={**circuit.provenance, "symmetry": "given"})
    try:
        return Circuit.model_validate(data)
    except ValidationError as exc:
        raise NetlistError(sym.source, str(exc.errors()[0]["msg"])) from exc
