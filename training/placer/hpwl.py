"""HPWL of legal placements as the placer counts it: pin centres, bulk pins out, IO pins on the boundary.

Reporting works from a `PlacementBatch` alone (e.g. read back from a dataset), so the IO pins, which a
`Placement` does not hold, are put back where `io_pins.legal_positions` says: on the bounding box made symmetric
about the placement's symmetry axis, recovered here from its matched pairs.
"""

from __future__ import annotations

import numpy as np

from placeq.batch import PlacementBatch
from placeq.domain import Circuit
from placeq.errors import InputError
from training.placer.io_pins import io_pins, legal_positions


def symmetry_axis(batch: PlacementBatch, circuit: Circuit) -> np.ndarray:
    """(B,) x of the vertical symmetry axis: mean mirror line of the pairs and self-symmetric devices (exact for
    a legal placement); the bounding box's centre line for a circuit without symmetry constraints."""
    index = {n: i for i, n in enumerate(batch.device_names)}
    centre = batch.boxes[..., 0] + batch.boxes[..., 2] / 2  # (B, N)
    members = [(index[a], index[b]) for a, b in circuit.symmetry_pairs] + [(index[s], index[s])
                                                                             for s in circuit.self_symmetric]
    if not members:
        x1 = (batch.boxes[..., 0] + batch.boxes[..., 2]).max(axis=1)
        axis: np.ndarray = (batch.boxes[..., 0].min(axis=1) + x1) / 2
        return axis
    m = np.array(members, dtype=np.int64)  # (K + S, 2)
    axis = ((centre[:, m[:, 0]] + centre[:, m[:, 1]]) / 2).mean(axis=1)
    return axis


def net_hpwl(batch: PlacementBatch, circuit: Circuit, *, include_bulk_pins: bool = False,
             with_io: bool = True) -> np.ndarray:
    """(B, M) HPWL (um) of each net of `batch.nets` over its pin centres (+ its IO pin); 0 for nets with < 2 pins.

    Bulk (B) pins are left out unless asked, as in the placer's wirelength.
    """
    if tuple(circuit.nets()) != batch.nets:
        raise InputError("circuit", f"nets of {circuit.name} differ from the placements' nets")
    keep = np.array([include_bulk_pins or t != "B" for t in batch.pin_terminal], dtype=bool)
    xy = (batch.pin_boxes[:, keep, :2] + batch.pin_boxes[:, keep, 2:]) / 2  # (B, P', 2)
    nets = batch.pin_net[keep]
    if with_io:
        pins = io_pins(circuit)
        xy = np.concatenate([xy, legal_positions(pins, batch.boxes, symmetry_axis(batch, circuit))], axis=1)
        nets = np.concatenate([nets, pins.net])
    order = np.argsort(nets, kind="stable")
    xy, nets = xy[:, order], nets[order]
    starts = np.flatnonzero(np.r_[True, nets[1:] != nets[:-1]]) if len(nets) else np.zeros(0, dtype=np.int64)
    out = np.zeros((len(batch), len(batch.nets)))
    if len(starts):
        span = np.maximum.reduceat(xy, starts, axis=1) - np.minimum.reduceat(xy, starts, axis=1)  # (B, nets, 2)
        out[:, nets[starts]] = span.sum(axis=2)
    return out
