"""MAGICAL placement output, as UT-AnLay's benchmark/README.md documents it (and its extract_place/parser.py and
IdeaPlaceEx's ParserPin/ParserConnection read it). Units are um (floats); UT-AnLay multiplies by 1000 for nm.

``place.result``      ``DEVICE X Y WIDTH HEIGHT`` per line: lower-left origin and size of each placed device.
``place.pin``         ``DEVICE`` line, then per pin a ``PIN NUM_SHAPES`` line and the shapes, 5 tokens each
                      (``LAYER XL YL XH YH``, coordinates possibly wrapped in parentheses), relative to the
                      unplaced device's origin. Shapes of one pin are merged into their bounding box.
``place.connection``  ``NET DEV PIN DEV PIN ...`` per line. Bulk pins (B/BULK) are skipped, as UT-AnLay does.

Pin names are the domain's terminals: D/G/S/B for MOSFETs, PLUS/MINUS/B for passives (case-insensitive).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from placeq.domain import PIN_TOLERANCE_UM, Box, Circuit, Pin, PlacedDevice, Placement
from placeq.errors import PlacementFileError

PLACE_RESULT = "place.result"
PLACE_PIN = "place.pin"
PLACE_CONNECTION = "place.connection"
_BULK = frozenset({"B", "BULK"})


@dataclass(frozen=True)
class PinShapes:
    """One device pin from ``place.pin``: bounding box of its shapes (um, device-relative) and its line."""

    terminal: str
    box: tuple[float, float, float, float]  # (xl, yl, xh, yh)
    lineno: int


def _float(token: str, where: str, what: str) -> float:
    try:
        value = float(token.strip("(),"))
    except ValueError:
        raise PlacementFileError(where, f"{what}: {token!r} is not a number") from None
    if value != value or abs(value) == float("inf"):
        raise PlacementFileError(where, f"{what}: {token!r} is not finite")
    return value


def parse_place_result(text: str) -> dict[str, tuple[int, float, float, float, float]]:
    """Device -> (line, x, y, width, height)."""
    out: dict[str, tuple[int, float, float, float, float]] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        words = raw.split()
        if not words:
            continue
        where = f"{PLACE_RESULT}:{lineno}"
        if len(words) != 5:
            raise PlacementFileError(where, f"expected 'DEVICE X Y WIDTH HEIGHT', got {len(words)} fields")
        name = words[0]
        x, y, w, h = (_float(t, where, f) for t, f in zip(words[1:], ("x", "y", "width", "height"), strict=True))
        if w <= 0 or h <= 0:
            raise PlacementFileError(where, f"{name}: width and height must be positive, got {w} x {h}")
        if name in out:
            raise PlacementFileError(where, f"{name} placed twice (first on line {out[name][0]})")
        out[name] = (lineno, x, y, w, h)
    return out


def parse_place_pin(text: str) -> dict[str, dict[str, PinShapes]]:
    """Device -> terminal -> merged pin box; bulk pins are dropped."""
    out: dict[str, dict[str, PinShapes]] = {}
    device: str | None = None
    pin: tuple[str, int, int] | None = None  # (terminal, declared shapes, line)
    boxes: list[tuple[float, float, float, float]] = []

    def close(where: str) -> None:
        if pin is None or device is None:
            return
        terminal, declared, line = pin
        if len(boxes) != declared:
            raise PlacementFileError(where, f"{device}.{terminal}: {declared} shapes declared, {len(boxes)} given")
        if terminal in _BULK or declared == 0:
            return
        if terminal in out[device]:
            raise PlacementFileError(f"{PLACE_PIN}:{line}", f"{device}.{terminal} listed twice")
        xl, yl = min(b[0] for b in boxes), min(b[1] for b in boxes)
        out[device][terminal] = PinShapes(terminal, (xl, yl, max(b[2] for b in boxes), max(b[3] for b in boxes)), line)

    lineno = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        words = raw.split()
        where = f"{PLACE_PIN}:{lineno}"
        if not words:
            continue
        if len(words) == 1:
            close(where)
            device, pin, boxes = words[0], None, []
            if device in out:
                raise PlacementFileError(where, f"device {device} listed twice")
            out[device] = {}
        elif len(words) == 2 and device is not None and not words[1].startswith("("):
            close(where)
            try:
                declared = int(words[1])
            except ValueError:
                raise PlacementFileError(where, f"expected 'PIN NUM_SHAPES', got {raw.strip()!r}") from None
            pin, boxes = (words[0].upper(), declared, lineno), []
        elif pin is not None and len(words) % 5 == 0:
            for i in range(0, len(words), 5):
                xl, yl, xh, yh = (_float(t, where, "shape") for t in words[i + 1 : i + 5])
                boxes.append((min(xl, xh), min(yl, yh), max(xl, xh), max(yl, yh)))
        else:
            what = "no device line before it" if device is None else "expected 'PIN N' or N x 'LAYER XL YL XH YH'"
            raise PlacementFileError(where, f"cannot read {raw.strip()!r}: {what}")
    close(f"{PLACE_PIN}:{lineno}")
    return out


def parse_place_connection(text: str) -> list[tuple[int, str, list[tuple[str, str]]]]:
    """(line, net, [(device, terminal), ...]) per net; bulk pins are dropped."""
    out: list[tuple[int, str, list[tuple[str, str]]]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        words = raw.split()
        if not words:
            continue
        if len(words) % 2 == 0:
            where = f"{PLACE_CONNECTION}:{lineno}"
            raise PlacementFileError(where, "expected 'NET DEV PIN DEV PIN ...' (device/pin pairs)")
        pins = [(words[i], words[i + 1].upper()) for i in range(1, len(words), 2)]
        out.append((lineno, words[0], [(d, p) for d, p in pins if p not in _BULK]))
    return out


def _read(directory: Path, name: str, required: bool) -> str | None:
    path = directory / name
    if not path.is_file():
        if required:
            raise PlacementFileError(name, f"missing in {directory}")
        return None
    return path.read_text(encoding="utf-8", errors="replace")


def read_magical_placement(directory: Path, circuit: Circuit) -> Placement:
    """The `Placement` of `circuit` in a MAGICAL result directory (``place.result`` required, ``place.pin`` for
    pins, ``place.connection`` checked against the circuit). Pin nets come from the circuit."""
    directory = Path(directory)
    placed = parse_place_result(_read(directory, PLACE_RESULT, required=True) or "")
    by_name = {d.name: d for d in circuit.devices}
    for name, (lineno, *_) in placed.items():
        if name not in by_name:
            raise PlacementFileError(f"{PLACE_RESULT}:{lineno}", f"device {name!r} is not in {circuit.name}")
    if missing := [d.name for d in circuit.devices if d.name not in placed]:
        raise PlacementFileError(PLACE_RESULT, f"devices of {circuit.name} not placed: {missing}")
    pin_text = _read(directory, PLACE_PIN, required=False)
    shapes = parse_place_pin(pin_text) if pin_text is not None else {}
    conn_text = _read(directory, PLACE_CONNECTION, required=False)
    if conn_text is not None:
        _check_connection(parse_place_connection(conn_text), circuit)

    devices: list[PlacedDevice] = []
    pins: list[Pin] = []
    for dev in circuit.devices:
        lineno, x, y, w, h = placed[dev.name]
        where = f"{PLACE_RESULT}:{lineno}"
        try:
            devices.append(PlacedDevice(name=dev.name, kind=dev.kind, tags=dev.tags, x=x, y=y, w=w, h=h))
        except ValidationError as exc:
            raise PlacementFileError(where, f"{dev.name}: {exc.errors()[0]['msg']}") from exc
    for device, terminals in shapes.items():
        ref = by_name.get(device)
        if ref is None:
            line = min((s.lineno for s in terminals.values()), default=0)
            raise PlacementFileError(f"{PLACE_PIN}:{line}", f"device {device!r} is not in {circuit.name}")
        _, x, y, w, h = placed[device]
        for s in terminals.values():
            where = f"{PLACE_PIN}:{s.lineno}"
            net = ref.terminals.get(s.terminal)
            if net is None:
                raise PlacementFileError(where, f"{device} has no terminal {s.terminal} ({' '.join(ref.terminals)})")
            xl, yl, xh, yh = s.box[0] + x, s.box[1] + y, s.box[2] + x, s.box[3] + y
            t = PIN_TOLERANCE_UM
            if xl < x - t or yl < y - t or xh > x + w + t or yh > y + h + t:
                raise PlacementFileError(where, f"{device}.{s.terminal} lies outside its device by more than {t} um")
            pins.append(Pin(device=device, terminal=s.terminal, net=net, box=Box(x0=xl, y0=yl, x1=xh, y1=yh)))
    try:
        return Placement(design=circuit.name, devices=tuple(devices), pins=tuple(pins))
    except ValidationError as exc:
        raise PlacementFileError(str(directory), str(exc.errors()[0]["msg"])) from exc


def _check_connection(nets: list[tuple[int, str, list[tuple[str, str]]]], circuit: Circuit) -> None:
    by_name = {d.name: d for d in circuit.devices}
    for lineno, net, pins in nets:
        where = f"{PLACE_CONNECTION}:{lineno}"
        for device, terminal in pins:
            ref = by_name.get(device)
            if ref is None:
                raise PlacementFileError(where, f"device {device!r} is not in {circuit.name}")
            ours = ref.terminals.get(terminal)
            if ours is None:
                raise PlacementFileError(where, f"{device} has no terminal {terminal} ({' '.join(ref.terminals)})")
            if ours != net:
                raise PlacementFileError(where, f"{device}.{terminal} is on net {net} here, on {ours} in the circuit")


def write_magical_placement(placement: Placement, directory: Path) -> None:
    """Write ``place.result``, ``place.pin`` (one shape per pin, layer ``M1``) and ``place.connection``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    origin = {d.name: (d.x, d.y) for d in placement.devices}
    result = [f"{d.name} {d.x!r} {d.y!r} {d.w!r} {d.h!r}" for d in placement.devices]
    pin_lines: list[str] = []
    for d in placement.devices:
        mine = [p for p in placement.pins if p.device == d.name]
        if not mine:
            continue
        pin_lines.append(d.name)
        for p in mine:
            ox, oy = origin[d.name]
            b = p.box
            pin_lines += [f"{p.terminal} 1", f"    M1 ({b.x0 - ox!r} {b.y0 - oy!r} {b.x1 - ox!r} {b.y1 - oy!r})"]
    nets: dict[str, list[str]] = {}
    for p in placement.pins:
        nets.setdefault(p.net, []).append(f"{p.device} {p.terminal}")
    (directory / PLACE_RESULT).write_text("\n".join(result) + "\n", encoding="utf-8")
    (directory / PLACE_PIN).write_text("\n".join(pin_lines) + "\n", encoding="utf-8")
    (directory / PLACE_CONNECTION).write_text(
        "".join(f"{net} {' '.join(members)}\n" for net, members in nets.items()), encoding="utf-8"
    )
