"""Placement-quality heuristics that need no model, the baselines beside the CNN (docs/simulator.md, Fig. 1).

Offset in a differential pair comes from mismatch between its two halves, so two cheap proxies are the usual
first guess: total half-perimeter wirelength (long routes add R/C) and the distance between the input-pair
transistors (process gradients grow with separation). Either one, used as a score, prunes the highest-scoring
share of a design space; its false omission rate (paper eq. 4) at that pruning rate is what a CNN must beat.
"""

from __future__ import annotations

import numpy as np

from placeq.batch import PlacementBatch
from placeq.domain import Circuit
from placeq.errors import InputError


def hpwl(batch: PlacementBatch) -> np.ndarray:
    """(B,) total half-perimeter wirelength over all nets with two or more pins (pin centres), um."""
    centre = 0.5 * (batch.pin_boxes[..., :2] + batch.pin_boxes[..., 2:])  # (B, P, 2)
    net = np.asarray(batch.pin_net)
    order = np.argsort(net, kind="stable")
    nets, starts, counts = np.unique(net[order], return_index=True, return_counts=True)
    pts = centre[:, order]  # (B, P, 2), pins grouped by net
    span = np.maximum.reduceat(pts, starts, axis=1) - np.minimum.reduceat(pts, starts, axis=1)  # (B, M, 2)
    return np.asarray(span[:, counts > 1].sum(axis=(1, 2)), dtype=np.float64)


def pair_distance(batch: PlacementBatch, circuit: Circuit) -> np.ndarray:
    """(B,) distance between the centres of the two input transistors (gates on the testbench inputs), um."""
    tb = circuit.testbench
    if tb is None:
        raise InputError("circuit", f"{circuit.name} has no testbench: its input pair is unknown")
    gates = [next(n for n, d in enumerate(circuit.devices) if d.terminals.get("G") == net) for net in tb.inputs]
    c = batch.boxes[..., :2] + 0.5 * batch.boxes[..., 2:]  # (B, N, 2)
    return np.asarray(np.hypot(*(c[:, gates[0]] - c[:, gates[1]]).T))


def false_omission_rate(score: np.ndarray, bad: np.ndarray, rate: float = 0.25) -> float:
    """FOR (paper eq. 4) when the `rate` highest-scoring placements are pruned: bad share of the kept ones."""
    kept = np.argsort(score, kind="stable")[: len(score) - int(round(rate * len(score)))]
    return float(np.asarray(bad)[kept].mean()) if len(kept) else 0.0


def design_mean_for(score: np.ndarray, bad: np.ndarray, groups: np.ndarray, rate: float = 0.25) -> float:
    """Mean over designs (`groups`) of the FOR when each design prunes its own `rate` highest-scoring rows: what
    a user pruning one design's layouts sees, free of how scores compare across designs (a pooled cut is not)."""
    g = np.asarray(groups)
    fors = [false_omission_rate(np.asarray(score)[g == k], np.asarray(bad)[g == k], rate) for k in np.unique(g)]
    return float(np.mean(fors)) if fors else 0.0
