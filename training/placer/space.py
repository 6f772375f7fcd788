"""The design space of a circuit (paper Sec. III-A): one placement per subset of its k critical nets.

Placement id i raises critical net j iff bit j of i is set, so the full space is ids 0 .. 2^k - 1 (k = 14 gives
the paper's ~16k layouts per design) and a sample of `count` ids is deterministic for a seed. Each placement's
row does not depend on which other rows share its batch, so a space can be generated in any chunking.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from placeq.batch import PlacementBatch
from placeq.domain import Circuit
from placeq.errors import InputError
from training.placer.config import PlacerConfig
from training.placer.legalize import legalize, pin_boxes
from training.placer.place import global_place
from training.placer.problem import PlacementProblem

MAX_CRITICAL = 62  # ids are int64 bit masks

Progress = Callable[[int, int], None]  # (placements done, total)


def space_ids(k: int, count: int | None, seed: int) -> np.ndarray:
    """(B,) int64 subset ids: all 2^k in order when count is None or >= 2^k, else a seeded sample, sorted."""
    if k > MAX_CRITICAL:
        raise InputError("critical_nets", f"at most {MAX_CRITICAL} critical nets, got {k}")
    if count is not None and count < 1:
        raise InputError("count", f"must be >= 1, got {count}")
    total = 1 << k
    if count is None or count >= total:
        return np.arange(total, dtype=np.int64)
    rng = np.random.default_rng(seed)
    if total <= 1 << 24:
        return np.sort(rng.choice(total, size=count, replace=False)).astype(np.int64)
    ids: set[int] = set()
    while len(ids) < count:
        ids.update(int(v) for v in rng.integers(0, total, size=count - len(ids), dtype=np.int64))
    return np.array(sorted(ids), dtype=np.int64)


def subsets_of(ids: np.ndarray, k: int) -> np.ndarray:
    """(B,) ids -> (B, k) bool: critical net j raised in placement i."""
    return ((ids[:, None] >> np.arange(k, dtype=np.int64)[None, :]) & 1).astype(bool)


def place_rows(problem: PlacementProblem, weights: np.ndarray, config: PlacerConfig, *, seed: int,
               rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Global placement + legalization of one chunk: weights (B, M) -> boxes (B, N, 4), pin boxes (B, P, 4)."""
    gp = global_place(problem, weights, config, seed=seed, rows=rows)
    boxes, mirrored = legalize(problem, gp)
    return boxes, pin_boxes(problem, boxes, mirrored)


def generate_space(circuit: Circuit, *, count: int | None, seed: int, config: PlacerConfig | None = None,
                   batch_size: int | None = None, progress: Progress | None = None
                   ) -> tuple[PlacementBatch, np.ndarray]:
    """Place `count` sampled subsets (None: all 2^k) of the critical nets -> (placements, net weights (B, M)).

    Net weights are in `batch.nets` order. Safe to call from a worker process (threads set from the config).
    """
    cfg = config or PlacerConfig()
    size = batch_size or cfg.batch_size
    if size < 1:
        raise InputError("batch_size", f"must be >= 1, got {size}")
    problem = PlacementProblem.from_circuit(circuit, cfg)
    ids = space_ids(len(problem.critical), count, seed)
    weights = problem.weights(subsets_of(ids, len(problem.critical)))  # (B, M)
    previous = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        boxes, pins = [], []
        for start in range(0, len(ids), size):
            sl = slice(start, start + size)
            bx, pb = place_rows(problem, weights[sl], cfg, seed=seed, rows=ids[sl])
            boxes.append(bx)
            pins.append(pb)
            if progress is not None:
                progress(min(start + size, len(ids)), len(ids))
    finally:
        torch.set_num_threads(previous)
    batch = PlacementBatch(
        design=problem.design,
        device_names=problem.device_names,
        kinds=problem.kinds,
        tags=problem.tags,
        pin_device=problem.pin_device,
        pin_terminal=problem.pin_terminal,
        pin_net=problem.pin_net,
        nets=problem.nets,
        boxes=np.concatenate(boxes),
        pin_boxes=np.concatenate(pins),
    )
    return batch, weights
