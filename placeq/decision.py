"""The prune decision on a batch of scores, shared by `/predict`, OIP, explore jobs and `placeq explore`.

Scores are P(worst quartile): higher is worse. A batch is decided by the model's (calibrated) threshold or by a
share of the batch (`prune_rate`), and ranked best first, ties broken by position so one batch always gets one
answer.
"""

from __future__ import annotations

import numpy as np


def prune_mask(probs: np.ndarray, threshold: float, prune_rate: float | None = None) -> np.ndarray:
    """(B,) bool: prune where probability >= threshold, or, given `prune_rate` in (0, 1), exactly
    round(prune_rate * B) layouts: those with the highest probability, ties broken by position (the earlier one
    first), so the same batch always gets the same decision.

    The rate exists because a probability threshold does not carry from one design space to another of the same
    design (a placer seed shifts every score; docs/models.md "Prune decisions across spaces"), while a share of
    the batch does: the batch's own ranking decides.
    """
    if prune_rate is None:
        return np.asarray(probs >= threshold, dtype=bool)
    if not 0.0 < prune_rate < 1.0:
        raise ValueError(f"prune_rate must lie in (0, 1), got {prune_rate}")
    k = int(round(prune_rate * len(probs)))
    mask = np.zeros(len(probs), dtype=bool)
    mask[worst_first(probs)[:k]] = True
    return mask


def worst_first(probs: np.ndarray) -> np.ndarray:
    """Indices from the highest probability to the lowest, the earlier of equal scores first."""
    return np.argsort(-np.asarray(probs, dtype=np.float64), kind="stable")


def best_first(probs: np.ndarray) -> np.ndarray:
    """Indices from the lowest probability (most worth routing) to the highest, the earlier of equal scores first."""
    return np.argsort(np.asarray(probs, dtype=np.float64), kind="stable")


def score_histogram(probs: np.ndarray, pruned: np.ndarray, bins: int = 20) -> dict[str, list[float] | list[int]]:
    """Counts of kept and pruned layouts over `bins` equal bins of [0, 1]: what a user looks at first."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    kept, _ = np.histogram(p[~pruned], bins=edges)
    cut, _ = np.histogram(p[pruned], bins=edges)
    return {"edges": [round(float(e), 6) for e in edges], "kept": kept.tolist(), "pruned": cut.tolist()}
