"""The nominal placement of a design: one deterministic legal placement, for checks that need a netlist but no
layout (`placeq check`, the labeller's nodeset).

The operating point a check reports must not depend on where a placer happened to put things, so the devices go
left to right in rows of their footprints (1 um apart, no overlap: legal) and the netlist takes the schematic
values (`simulate.netlist.nominal_values`: via resistances only, no wires, no threshold or beta shifts). The
placement only fixes the netlist's structure (which pins are routed); its coordinates change no number.
"""

from __future__ import annotations

import numpy as np

from placeq.batch import PlacementBatch
from placeq.domain import Circuit
from placeq.footprint import footprint

ROW_UM = 60.0  # row width of the nominal placement
GAP_UM = 1.0  # space between neighbouring devices and rows


def row_placement(circuit: Circuit, row_um: float = ROW_UM) -> PlacementBatch:
    """One legal placement (B = 1): footprints left to right in rows of `row_um`, pins from the footprints."""
    return row_placements(circuit, 1, row_um=row_um)


def row_placements(circuit: Circuit, count: int, *, seed: int | None = None, row_um: float = ROW_UM,
                   gap_um: float = GAP_UM) -> PlacementBatch:
    """`count` legal placements: footprints packed left to right into rows of `row_um`, `gap_um` apart, in file
    order, or with `seed` in a random device order each (legal layouts for labeller tests and benchmarks)."""
    rng = np.random.default_rng(seed) if seed is not None else None
    prints = [footprint(d) for d in circuit.devices]
    nets = circuit.nets()
    pin_device = [n for n, fp in enumerate(prints) for _ in fp.pins]
    pin_terminal = [t for fp in prints for t in fp.pins]
    pin_net = [nets.index(d.terminals[t]) for d, fp in zip(circuit.devices, prints, strict=True) for t in fp.pins]
    rel = np.array([box for fp in prints for box in fp.pins.values()], dtype=np.float64).reshape(-1, 4)  # (P, 4)
    boxes = np.zeros((count, len(prints), 4))  # (B, N, 4) x, y, w, h
    for b in range(count):
        x = y = row_h = 0.0
        for n in rng.permutation(len(prints)) if rng is not None else range(len(prints)):
            fp = prints[n]
            if x > 0 and x + fp.w > row_um:
                x, y, row_h = 0.0, y + row_h + gap_um, 0.0
            boxes[b, n] = (x, y, fp.w, fp.h)
            x, row_h = x + fp.w + gap_um, max(row_h, fp.h)
    dev = np.array(pin_device, dtype=np.int64)
    pins = boxes[:, dev, :2][..., [0, 1, 0, 1]] + rel[None]  # (B, P, 4)
    return PlacementBatch(
        design=circuit.name, device_names=tuple(d.name for d in circuit.devices),
        kinds=tuple(d.kind for d in circuit.devices), tags=tuple(d.tags for d in circuit.devices),
        pin_device=dev, pin_terminal=tuple(pin_terminal), pin_net=np.array(pin_net, dtype=np.int64),
        nets=tuple(nets), boxes=boxes, pin_boxes=pins,
    )
