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
    boxes: list[tuple[float, float, float, float]] = []
    pin_boxes: list[tuple[float, float, float, float]] = []
    pin_device: list[int] = []
    pin_terminal: list[str] = []
    pin_net: list[int] = []
    nets = circuit.nets()
    net_index = {n: k for k, n in enumerate(nets)}
    x = y = row_h = 0.0
    for n, dev in enumerate(circuit.devices):
        fp = footprint(dev)
        if x > 0 and x + fp.w > row_um:
            x, y, row_h = 0.0, y + row_h + GAP_UM, 0.0
        boxes.append((x, y, fp.w, fp.h))
        for term, (a, b, c, d) in fp.pins.items():
            pin_boxes.append((x + a, y + b, x + c, y + d))
            pin_device.append(n)
            pin_terminal.append(term)
            pin_net.append(net_index[dev.terminals[term]])
        x, row_h = x + fp.w + GAP_UM, max(row_h, fp.h)
    return PlacementBatch(
        design=circuit.name, device_names=tuple(d.name for d in circuit.devices),
        kinds=tuple(d.kind for d in circuit.devices), tags=tuple(d.tags for d in circuit.devices),
        pin_device=np.array(pin_device, dtype=np.int64), pin_terminal=tuple(pin_terminal),
        pin_net=np.array(pin_net, dtype=np.int64), nets=tuple(nets),
        boxes=np.array([boxes], dtype=np.float64),  # (1, N, 4)
        pin_boxes=np.array([pin_boxes], dtype=np.float64).reshape(1, len(pin_terminal), 4),  # (1, P, 4)
    )
