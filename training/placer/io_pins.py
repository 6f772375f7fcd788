"""IO pins: the circuit's ports as fixed pins on the placement outline, counted in the wirelength.

MAGICAL places a block's IO pins on its boundary, so a net from a device to a port (the input nets, which reach a
single gate) has a length, and raising its weight pulls its device toward the boundary. Without IO pins such a
net has one pin and no length, and its weight would change nothing (on OTA1 two of the 14 critical nets, INP and
INM, are of this kind: only 4,096 of the 16,384 weightings gave distinct placements).

Each port gets one pin at a fixed spot of the outline, given in a frame where x runs from -1/2 (left edge) to
+1/2 (right edge) about the symmetry axis and y from 0 (bottom) to 1 (top):

| port (from the testbench)               | position (x, y)                    |
|-----------------------------------------|------------------------------------|
| positive / negative input               | (-1/2, 1/3) / (+1/2, 1/3)          |
| positive / negative output              | (-1/2, 2/3) / (+1/2, 2/3)          |
| single-ended output                     | (+1/2, 2/3)                        |
| highest supply (VDD)                    | (0, 1): top, on the axis           |
| other supplies (VSS, GND)               | (0, 0): bottom, on the axis        |
| bias ports and any other port           | (0, 0): bottom, on the axis        |

Positive and negative pins are mirror images, so a symmetric placement stays symmetric in the wirelength; bias
and supply pins sit on the axis because they feed both halves. Without a testbench, supplies are recognized by
name (VDD/VCC top, VSS/GND/VEE bottom) and ports named <stem>P / <stem>M (or N) are a differential pair on the
left / right edge at mid height. The pins are placer-internal: a `Placement` holds device pins only.

During global placement the frame is the fixed target outline centred on the origin. After legalization it is
the placement's bounding box made symmetric about the legal axis (half width = the farther side), y from 0 to
the top; `legal_positions` recomputes it from the boxes, so HPWL can be reported from a stored dataset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from placeq.domain import Circuit

# Supply nets by name when the circuit has no testbench (UT-AnLay and MAGICAL name them so).
POWER_NET = re.compile(r"^(A|D)?(VDD|VSS|GND|VCC|VEE)[0-9]*!?$", re.IGNORECASE)
_HIGH_SUPPLY = re.compile(r"^(A|D)?(VDD|VCC)[0-9]*!?$", re.IGNORECASE)
_DIFF = re.compile(r"^(.+?)(P|M|N)$", re.IGNORECASE)

INPUT_Y = 1.0 / 3.0
OUTPUT_Y = 2.0 / 3.0
EDGE = 0.5


@dataclass(frozen=True)
class IoPins:
    """I IO pins: the port net each stands for and its spot in the outline frame (see the module docstring)."""

    names: tuple[str, ...]  # (I,) port net names
    net: np.ndarray  # (I,) int64 index into the circuit's nets
    frame: np.ndarray  # (I, 2) float64 x in [-1/2, 1/2] about the axis, y in [0, 1] from the bottom

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def none(cls) -> IoPins:
        """No IO pins (config `io_pins=False`: ports do not pull)."""
        return cls(names=(), net=np.zeros(0, dtype=np.int64), frame=np.zeros((0, 2)))


def _frame_positions(circuit: Circuit) -> dict[str, tuple[float, float]]:
    """Port net -> (x, y) in the outline frame, by the table in the module docstring."""
    nets = set(circuit.nets())
    ports = [p for p in dict.fromkeys(circuit.ports) if p in nets]
    spot: dict[str, tuple[float, float]] = {}
    tb = circuit.testbench
    if tb is not None:
        spot[tb.inputs[0]] = (-EDGE, INPUT_Y)
        spot[tb.inputs[1]] = (EDGE, INPUT_Y)
        if len(tb.outputs) == 2:
            spot[tb.outputs[0]] = (-EDGE, OUTPUT_Y)
            spot[tb.outputs[1]] = (EDGE, OUTPUT_Y)
        else:
            spot[tb.outputs[0]] = (EDGE, OUTPUT_Y)
        top = max(tb.supplies.values(), default=0.0)
        for net, volts in tb.supplies.items():
            spot[net] = (0.0, 1.0 if volts == top and volts > min(tb.supplies.values()) else 0.0)
        for net in (*tb.bias_voltages, *tb.bias_currents):
            spot.setdefault(net, (0.0, 0.0))
    else:
        for net in ports:
            if POWER_NET.match(net):
                spot[net] = (0.0, 1.0 if _HIGH_SUPPLY.match(net) else 0.0)
        stems: dict[str, dict[str, str]] = {}
        for net in ports:
            m = _DIFF.match(net)
            if net not in spot and m is not None:
                stems.setdefault(m.group(1).upper(), {})["P" if m.group(2).upper() == "P" else "M"] = net
        for pair in stems.values():
            if len(pair) == 2:
                spot[pair["P"]] = (-EDGE, 0.5)
                spot[pair["M"]] = (EDGE, 0.5)
    for net in ports:
        spot.setdefault(net, (0.0, 0.0))
    return {net: xy for net, xy in spot.items() if net in nets}


def io_pins(circuit: Circuit) -> IoPins:
    """The IO pins of a circuit: its ports and the testbench's nets, in the circuit's net order."""
    spot = _frame_positions(circuit)
    nets = circuit.nets()
    names = tuple(n for n in nets if n in spot)
    index = {n: i for i, n in enumerate(nets)}
    return IoPins(
        names=names,
        net=np.array([index[n] for n in names], dtype=np.int64),
        frame=np.array([spot[n] for n in names], dtype=np.float64).reshape(-1, 2),
    )


def outline_positions(pins: IoPins, outline: tuple[float, float]) -> np.ndarray:
    """(I, 2) pin positions (um) on the global-placement outline (W, H) centred on the origin."""
    w, h = outline
    return np.stack([pins.frame[:, 0] * w, (pins.frame[:, 1] - 0.5) * h], axis=1)


def legal_positions(pins: IoPins, boxes: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """(B, N, 4) legal device boxes (x, y, w, h), (B,) symmetry axis -> (B, I, 2) pin positions (um).

    The frame is the bounding box widened to be symmetric about the axis, so mirrored ports stay mirrored.
    """
    x0 = boxes[..., 0].min(axis=1)  # (B,)
    x1 = (boxes[..., 0] + boxes[..., 2]).max(axis=1)
    y0 = boxes[..., 1].min(axis=1)
    y1 = (boxes[..., 1] + boxes[..., 3]).max(axis=1)
    half = np.maximum(axis - x0, x1 - axis)  # (B,)
    x = axis[:, None] + pins.frame[None, :, 0] * 2 * half[:, None]  # (B, I)
    y = y0[:, None] + pins.frame[None, :, 1] * (y1 - y0)[:, None]
    return np.stack([x, y], axis=2)
