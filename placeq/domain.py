"""The one domain model: circuit -> placement, shared by the API, the workers and training.

Units: lengths and positions in micrometres (um); capacitance in farads, resistance in ohms, voltages in
volts. A `Placement` is self-contained (each device carries its kind and subcircuit tags, each pin its net),
because it is exactly what the predict API accepts and a client should not need the circuit to send one.

Validation errors name the offending field in their message (``devices[3].w: ...``) so that the API can
answer a 4xx that a person can act on; see `placeq.errors` for the exception hierarchy.
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

# Documented limits: a placement or circuit beyond these is rejected (the largest OTA in the paper has 45 devices).
MAX_DEVICES = 512
MAX_PINS = 8192
MAX_NETS = 4096
MAX_NAME_LEN = 128
# Largest accepted coordinate magnitude (um): 10 cm, far beyond any analog block, small enough for float32.
MAX_COORD_UM = 1.0e5
# A pin box may stick out of its device box by at most this much (um) before it is "far outside its device".
PIN_TOLERANCE_UM = 2.0

NAME_PATTERN = r"^[A-Za-z0-9_.:<>\[\]/+\-#$!]+$"  # devices and nets: netlists write X1/M3, bus<0>, net#2
# A design name becomes a URL path segment (/designs/{name}, /v2/models/{name}) and a file name (placeq simulate
# --netlists DIR writes DIR/<name>.sp): dot-separated words, so no "/", "\\", "..", leading "." or "-", and
# nothing a URL must escape (issue 16: "a/b" was stored but never found again, "../x" wrote outside DIR).
DESIGN_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_+\-]*(\.[A-Za-z0-9_+\-]+)*$"
# Free text that ends up beside netlist cards (a model name) or in logs: one line, no control characters.
ONE_LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"


def json_integer(value: object) -> object:
    """A JSON Schema integer: pydantic's lax mode would also read ``true`` as 1 and ``"2"`` as 2."""
    if isinstance(value, bool | str | bytes):
        raise ValueError(f"Input should be an integer, not {type(value).__name__}")
    return value


# Numbers are what the published JSON Schema says: floats are strict (int or float, never a bool or a string;
# numpy scalars pass), integers refuse bools and strings but take 3.0 as JSON Schema does.
Real = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Integer = Annotated[int, BeforeValidator(json_integer)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LEN, pattern=NAME_PATTERN)]
DesignName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LEN, pattern=DESIGN_NAME_PATTERN)]
Length = Annotated[float, Field(strict=True, ge=0.0, le=MAX_COORD_UM, allow_inf_nan=False)]
Coord = Annotated[float, Field(strict=True, ge=-MAX_COORD_UM, le=MAX_COORD_UM, allow_inf_nan=False)]


class DeviceKind(StrEnum):
    """Device type; its image intensity is the paper's Table II."""

    NMOS = "NMOS"
    PMOS = "PMOS"
    CAP = "CAP"
    RES = "RES"


# Paper Table II: device image intensity.
KIND_INTENSITY: dict[DeviceKind, float] = {
    DeviceKind.NMOS: 0.25,
    DeviceKind.PMOS: 0.5,
    DeviceKind.CAP: 0.75,
    DeviceKind.RES: 1.0,
}


class Subcircuit(StrEnum):
    """Functional subcircuit of an OTA (paper Sec. III-B); the order is UT-AnLay's channel numbering 1..5."""

    FIRST_STAGE = "first_stage"
    OTHER_STAGE = "other_stage"
    FEEDBACK = "feedback"
    CMFB = "cmfb"
    BIAS = "bias"


SUBCIRCUITS: tuple[Subcircuit, ...] = tuple(Subcircuit)

# Terminal names per kind. Passives may have a third (body) terminal: the well or substrate a poly resistor or a
# MOM capacitor sits on (UT-AnLay's poly_res, PDK caps written with three nets, e.g. `C6 (VOM vtail GND) cap`).
MOS_TERMINALS: tuple[str, ...] = ("D", "G", "S", "B")
PASSIVE_TERMINALS: tuple[str, ...] = ("PLUS", "MINUS")
KIND_TERMINALS: dict[DeviceKind, tuple[str, ...]] = {
    DeviceKind.NMOS: MOS_TERMINALS,
    DeviceKind.PMOS: MOS_TERMINALS,
    DeviceKind.CAP: (*PASSIVE_TERMINALS, "B"),
    DeviceKind.RES: (*PASSIVE_TERMINALS, "B"),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _duplicates(names: list[str]) -> list[str]:
    return sorted(n for n, c in Counter(names).items() if c > 1)


class Device(_Frozen):
    """A schematic device: MOSFET sizes in um (w is the total width over all fingers), or a passive value."""

    name: Name
    kind: DeviceKind
    tags: tuple[Subcircuit, ...] = Field(default=(), description="Subcircuits the device belongs to (>= 0).")
    terminals: dict[str, Name] = Field(description="Terminal name (D/G/S/B or PLUS/MINUS[/B]) -> net name.")
    model: str | None = Field(
        default=None, max_length=MAX_NAME_LEN, pattern=ONE_LINE_PATTERN, description="Model name in the netlist."
    )
    w: Length | None = Field(default=None, description="MOSFET total width (um).")
    l: Length | None = Field(default=None, description="MOSFET length (um).")  # noqa: E741
    nf: Integer = Field(default=1, ge=1, le=1024, description="Number of fingers.")
    nfin: Integer | None = Field(
        default=None, ge=1, le=1024, description="FinFET fins per finger (w is then nf * nfin * the fin's Weff)."
    )
    m: Integer = Field(default=1, ge=1, le=1024, description="Multiplier (parallel copies).")
    value: Annotated[Real, Field(gt=0.0)] | None = Field(
        default=None, description="Capacitance (F) or resistance (ohm) of a passive."
    )

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: tuple[Subcircuit, ...]) -> tuple[Subcircuit, ...]:
        if len(set(tags)) != len(tags):
            raise ValueError("repeated subcircuit tag")
        return tags

    @model_validator(mode="after")
    def _terminals_fit_kind(self) -> Device:
        allowed = KIND_TERMINALS[self.kind]
        unknown = [t for t in self.terminals if t not in allowed]
        if unknown:
            raise ValueError(f"terminals: {unknown} not valid for {self.kind.value} (allowed {list(allowed)})")
        missing = [t for t in allowed[:2] if t not in self.terminals]
        if missing:
            raise ValueError(f"terminals: missing {missing}")
        if self.kind in (DeviceKind.NMOS, DeviceKind.PMOS) and (self.w is None or self.l is None):
            raise ValueError("w, l: a MOSFET needs both")
        if self.kind in (DeviceKind.NMOS, DeviceKind.PMOS) and (self.w == 0 or self.l == 0):
            raise ValueError("w, l: must be positive")
        return self

    @property
    def is_mos(self) -> bool:
        return self.kind in (DeviceKind.NMOS, DeviceKind.PMOS)


class Testbench(_Frozen):
    """How the OTA is measured (the simulator builds its testbench from this)."""

    metric: Literal["offset", "cmrr"]
    inputs: tuple[Name, Name] = Field(description="(positive, negative) input nets.")
    outputs: tuple[Name, Name] | tuple[Name] = Field(description="(positive, negative) or single-ended output.")
    supplies: dict[Name, Real] = Field(description="Supply net -> voltage (V), e.g. {'VDD': 1.2, 'VSS': 0}.")
    common_mode: Real = Field(description="Input common-mode voltage (V).")
    load_cap: Annotated[Real, Field(ge=0.0)] = Field(default=1e-12, description="Load capacitance on each output (F).")
    bias_voltages: dict[Name, Real] = Field(default_factory=dict, description="Port net -> DC voltage (V).")
    bias_currents: dict[Name, Real] = Field(
        default_factory=dict, description="Port net -> DC current (A) pushed into the net from the positive supply."
    )


class Circuit(_Frozen):
    """A design: devices, matching constraints, critical nets (the placer's weighting knobs), testbench."""

    name: DesignName
    ports: tuple[Name, ...] = ()
    devices: tuple[Device, ...] = Field(min_length=1, max_length=MAX_DEVICES)
    symmetry_pairs: tuple[tuple[Name, Name], ...] = Field(
        default=(), description="Matched device pairs, mirrored about the vertical symmetry axis."
    )
    self_symmetric: tuple[Name, ...] = Field(default=(), description="Devices centred on the symmetry axis.")
    critical_nets: tuple[Name, ...] = Field(
        default=(), description="Nets whose weight the design-space generator raises (k nets -> 2^k placements)."
    )
    testbench: Testbench | None = None
    provenance: dict[Literal["tags", "symmetry", "critical_nets", "testbench"], Literal["given", "inferred"]] = Field(
        default_factory=dict,
        description="Where each part came from: 'given' (a file or field the user supplied) or 'inferred' from the "
        "topology by `placeq import-netlist` (placeq.topology); absent = not set.",
    )
    description: str = Field(default="", max_length=2000, pattern=ONE_LINE_PATTERN)

    @model_validator(mode="after")
    def _consistent(self) -> Circuit:
        names = [d.name for d in self.devices]
        if dup := _duplicates(names):
            raise ValueError(f"devices: duplicate device names {dup}")
        known = set(names)
        by_name = {d.name: d for d in self.devices}
        nets = self.nets()
        if len(nets) > MAX_NETS:
            raise ValueError(f"devices: {len(nets)} nets exceeds the limit of {MAX_NETS}")
        seen: list[str] = []
        for i, (a, b) in enumerate(self.symmetry_pairs):
            for side, dev in (("0", a), ("1", b)):
                if dev not in known:
                    raise ValueError(f"symmetry_pairs[{i}][{side}]: unknown device {dev!r}")
            if a == b:
                raise ValueError(f"symmetry_pairs[{i}]: a device cannot pair with itself ({a!r})")
            if by_name[a].kind != by_name[b].kind:
                raise ValueError(f"symmetry_pairs[{i}]: {a!r} and {b!r} are of different kinds")
            seen += [a, b]
        for i, dev in enumerate(self.self_symmetric):
            if dev not in known:
                raise ValueError(f"self_symmetric[{i}]: unknown device {dev!r}")
            seen.append(dev)
        if dup := _duplicates(seen):
            raise ValueError(f"symmetry_pairs: devices in more than one symmetry constraint {dup}")
        for i, net in enumerate(self.critical_nets):
            if net not in nets:
                raise ValueError(f"critical_nets[{i}]: unknown net {net!r}")
        if dup := _duplicates(list(self.critical_nets)):
            raise ValueError(f"critical_nets: duplicates {dup}")
        if self.testbench is not None:
            tb = self.testbench
            for field, group in (
                ("inputs", tb.inputs),
                ("outputs", tb.outputs),
                ("supplies", tuple(tb.supplies)),
                ("bias_voltages", tuple(tb.bias_voltages)),
                ("bias_currents", tuple(tb.bias_currents)),
            ):
                for net in group:
                    if net not in nets:
                        raise ValueError(f"testbench.{field}: unknown net {net!r}")
        return self

    def nets(self) -> list[str]:
        """All nets, in first-seen order (deterministic: the placer and rasterizer index nets by it)."""
        return list(dict.fromkeys(n for d in self.devices for n in d.terminals.values()))

    def device(self, name: str) -> Device:
        for d in self.devices:
            if d.name == name:
                return d
        raise KeyError(name)


class Box(_Frozen):
    """An axis-aligned rectangle (um), lower-left corner (x0, y0), upper-right (x1, y1)."""

    x0: Coord
    y0: Coord
    x1: Coord
    y1: Coord

    @model_validator(mode="after")
    def _ordered(self) -> Box:
        if self.x1 < self.x0 or self.y1 < self.y0:
            raise ValueError("box: x1 >= x0 and y1 >= y0 required")
        return self


class PlacedDevice(_Frozen):
    """A device rectangle in the placement: lower-left corner (x, y), width w and height h (um)."""

    name: Name
    kind: DeviceKind
    tags: tuple[Subcircuit, ...] = ()
    x: Coord
    y: Coord
    w: Annotated[Real, Field(gt=0.0, le=MAX_COORD_UM)]
    h: Annotated[Real, Field(gt=0.0, le=MAX_COORD_UM)]

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: tuple[Subcircuit, ...]) -> tuple[Subcircuit, ...]:
        if len(set(tags)) != len(tags):
            raise ValueError("repeated subcircuit tag")
        return tags

    @model_validator(mode="after")
    def _inside_the_coordinate_range(self) -> PlacedDevice:
        """The far edges obey the coordinate limit too (the device's box, and the placement's, are Boxes)."""
        for edge, value in (("x + w", self.x + self.w), ("y + h", self.y + self.h)):
            if value > MAX_COORD_UM:
                raise ValueError(f"{edge}: the device ends at {value:g} um, beyond the limit of {MAX_COORD_UM:g} um")
        return self

    @property
    def box(self) -> Box:
        return Box(x0=self.x, y0=self.y, x1=self.x + self.w, y1=self.y + self.h)


class Pin(_Frozen):
    """A device terminal's shape after placement (absolute um) and the net it connects to."""

    device: Name
    terminal: Name
    net: Name
    box: Box


class Placement(_Frozen):
    """One placement of a design: what the placer produces, the rasterizer draws and the predict API scores."""

    design: DesignName
    devices: tuple[PlacedDevice, ...] = Field(min_length=1, max_length=MAX_DEVICES)
    pins: tuple[Pin, ...] = Field(default=(), max_length=MAX_PINS)

    @model_validator(mode="after")
    def _consistent(self) -> Placement:
        names = [d.name for d in self.devices]
        if dup := _duplicates(names):
            raise ValueError(f"devices: duplicate device names {dup}")
        by_name = {d.name: d for d in self.devices}
        seen: set[tuple[str, str]] = set()
        for i, p in enumerate(self.pins):
            dev = by_name.get(p.device)
            if dev is None:
                raise ValueError(f"pins[{i}].device: unknown device {p.device!r}")
            if (p.device, p.terminal) in seen:
                raise ValueError(f"pins[{i}].terminal: duplicate pin {p.device}.{p.terminal}")
            seen.add((p.device, p.terminal))
            t = PIN_TOLERANCE_UM
            if (
                p.box.x0 < dev.x - t
                or p.box.y0 < dev.y - t
                or p.box.x1 > dev.x + dev.w + t
                or p.box.y1 > dev.y + dev.h + t
            ):
                raise ValueError(
                    f"pins[{i}].box: pin {p.device}.{p.terminal} lies outside its device "
                    f"by more than {PIN_TOLERANCE_UM} um"
                )
        if len({p.net for p in self.pins}) > MAX_NETS:
            raise ValueError(f"pins: more than {MAX_NETS} nets")
        return self

    def nets(self) -> list[str]:
        """Nets seen on pins, in first-seen order."""
        return list(dict.fromkeys(p.net for p in self.pins))

    def bounding_box(self) -> Box:
        """Tight box around every device and pin (the rasterizer's frame)."""
        xs0 = [d.x for d in self.devices] + [p.box.x0 for p in self.pins]
        ys0 = [d.y for d in self.devices] + [p.box.y0 for p in self.pins]
        xs1 = [d.x + d.w for d in self.devices] + [p.box.x1 for p in self.pins]
        ys1 = [d.y + d.h for d in self.devices] + [p.box.y1 for p in self.pins]
        return Box(x0=min(xs0), y0=min(ys0), x1=max(xs1), y1=max(ys1))

    def check_against(self, circuit: Circuit) -> None:
        """Raise `PlacementMismatch` naming the field where this placement disagrees with its design."""
        from placeq.errors import PlacementMismatch

        if self.design != circuit.name:
            raise PlacementMismatch("design", f"placement is of {self.design!r}, circuit is {circuit.name!r}")
        cdev = {d.name: d for d in circuit.devices}
        for i, d in enumerate(self.devices):
            ref = cdev.get(d.name)
            if ref is None:
                raise PlacementMismatch(f"devices[{i}].name", f"device {d.name!r} is not in {circuit.name}")
            if ref.kind != d.kind:
                raise PlacementMismatch(f"devices[{i}].kind", f"{d.name} is {ref.kind.value} in the circuit")
            if set(ref.tags) != set(d.tags):
                raise PlacementMismatch(f"devices[{i}].tags", f"{d.name} has tags {[t.value for t in ref.tags]}")
        placed = {d.name for d in self.devices}
        missing = sorted(set(cdev) - placed)
        if missing:
            raise PlacementMismatch("devices", f"devices of {circuit.name} not placed: {missing}")
        for i, p in enumerate(self.pins):
            net = cdev[p.device].terminals.get(p.terminal)
            if net is None:
                raise PlacementMismatch(f"pins[{i}].terminal", f"{p.device} has no terminal {p.terminal!r}")
            if net != p.net:
                raise PlacementMismatch(f"pins[{i}].net", f"{p.device}.{p.terminal} connects to {net!r}")
