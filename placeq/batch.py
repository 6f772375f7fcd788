"""Many placements of one design as flat arrays: the form the placer emits and the rasterizer and simulator eat.

A design space holds ~16k placements that share everything but coordinates, so the structure (device order,
kinds, tags, pins and nets) is stored once and only the boxes carry a batch axis. Converting to and from
`Placement` objects is exact; the arrays exist so hot paths never loop over pydantic objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from placeq.domain import (
    KIND_INTENSITY,
    SUBCIRCUITS,
    Box,
    DeviceKind,
    Pin,
    PlacedDevice,
    Placement,
    Subcircuit,
)
from placeq.errors import InputError


@dataclass(frozen=True)
class PlacementBatch:
    """B placements of one design. Boxes are (x, y, w, h) of devices and (x0, y0, x1, y1) of pins, in um."""

    design: str
    device_names: tuple[str, ...]  # (N,)
    kinds: tuple[DeviceKind, ...]  # (N,)
    tags: tuple[tuple[Subcircuit, ...], ...]  # (N,)
    pin_device: np.ndarray  # (P,) int64 index into devices
    pin_terminal: tuple[str, ...]  # (P,)
    pin_net: np.ndarray  # (P,) int64 index into nets
    nets: tuple[str, ...]  # (M,)
    boxes: np.ndarray  # (B, N, 4) float64: x, y, w, h
    pin_boxes: np.ndarray  # (B, P, 4) float64: x0, y0, x1, y1

    def __post_init__(self) -> None:
        n, p = len(self.device_names), len(self.pin_terminal)
        if self.boxes.ndim != 3 or self.boxes.shape[1:] != (n, 4):
            raise InputError("boxes", f"expected shape (B, {n}, 4), got {self.boxes.shape}")
        if self.pin_boxes.shape != (self.boxes.shape[0], p, 4):
            raise InputError("pin_boxes", f"expected shape ({self.boxes.shape[0]}, {p}, 4), got {self.pin_boxes.shape}")
        if self.pin_device.shape != (p,) or self.pin_net.shape != (p,):
            raise InputError("pin_device", "pin_device and pin_net must have one entry per pin")

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @property
    def intensity(self) -> np.ndarray:
        """(N,) float32 image intensity per device (paper Table II)."""
        return np.array([KIND_INTENSITY[k] for k in self.kinds], dtype=np.float32)

    @property
    def tag_mask(self) -> np.ndarray:
        """(N, 5) bool: device n belongs to subcircuit s (order `SUBCIRCUITS`)."""
        return np.array([[s in t for s in SUBCIRCUITS] for t in self.tags], dtype=bool).reshape(-1, len(SUBCIRCUITS))

    def take(self, index: np.ndarray | Sequence[int] | slice) -> PlacementBatch:
        """A sub-batch (same structure, selected placements)."""
        return replace(self, boxes=self.boxes[index], pin_boxes=self.pin_boxes[index])

    def placement(self, i: int) -> Placement:
        """Placement i as a validated domain object."""
        b, pb = self.boxes[i], self.pin_boxes[i]
        devices = tuple(
            PlacedDevice(name=name, kind=kind, tags=tags, x=float(x), y=float(y), w=float(w), h=float(h))
            for name, kind, tags, (x, y, w, h) in zip(self.device_names, self.kinds, self.tags, b, strict=True)
        )
        pins = tuple(
            Pin(
                device=self.device_names[int(d)],
                terminal=t,
                net=self.nets[int(m)],
                box=Box(x0=float(x0), y0=float(y0), x1=float(x1), y1=float(y1)),
            )
            for d, t, m, (x0, y0, x1, y1) in zip(self.pin_device, self.pin_terminal, self.pin_net, pb, strict=True)
        )
        return Placement(design=self.design, devices=devices, pins=pins)

    def placements(self) -> list[Placement]:
        return [self.placement(i) for i in range(len(self))]

    @classmethod
    def from_placements(cls, placements: Sequence[Placement]) -> PlacementBatch:
        """Stack placements that share one structure (same devices, pins and nets in the same order)."""
        if not placements:
            raise InputError("placements", "at least one placement is needed")
        first = placements[0]
        nets = tuple(first.nets())
        net_index = {n: i for i, n in enumerate(nets)}
        dev_index = {d.name: i for i, d in enumerate(first.devices)}
        signature = _structure(first)
        for i, p in enumerate(placements[1:], start=1):
            if _structure(p) != signature:
                raise InputError(
                    f"placements[{i}]", "differs in devices, pins or nets from placements[0]; batch one design only"
                )
        boxes = np.array([[(d.x, d.y, d.w, d.h) for d in p.devices] for p in placements], dtype=np.float64)
        pin_boxes = np.array(
            [[(q.box.x0, q.box.y0, q.box.x1, q.box.y1) for q in p.pins] for p in placements], dtype=np.float64
        ).reshape(len(placements), len(first.pins), 4)
        return cls(
            design=first.design,
            device_names=tuple(d.name for d in first.devices),
            kinds=tuple(d.kind for d in first.devices),
            tags=tuple(d.tags for d in first.devices),
            pin_device=np.array([dev_index[q.device] for q in first.pins], dtype=np.int64),
            pin_terminal=tuple(q.terminal for q in first.pins),
            pin_net=np.array([net_index[q.net] for q in first.pins], dtype=np.int64),
            nets=nets,
            boxes=boxes,
            pin_boxes=pin_boxes,
        )


def _structure(p: Placement) -> tuple[object, ...]:
    return (
        p.design,
        tuple((d.name, d.kind, d.tags) for d in p.devices),
        tuple((q.device, q.terminal, q.net) for q in p.pins),
    )
