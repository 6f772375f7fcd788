"""Pruning metrics of the paper (Sec. IV-A) and the decision threshold, in numpy (no torch needed).

Positive = "prune" (the layout is predicted to be in the worst quartile). The key metric is the false
omission rate FOR = FN / (TN + FN): the share of bad layouts among those we let through to routing and
simulation. Without pruning it equals the share of bad layouts (25% by construction of the labels).

The threshold is chosen on validation data for an operating point the user cares about (a target FOR or a
pruning budget) and shipped with the model, so the service never hard-codes 0.5.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from placeq.errors import InputError


@dataclass(frozen=True)
class Confusion:
    """Counts at one threshold: predicted positive = score >= threshold."""

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn


@dataclass(frozen=True)
class Metrics:
    """Paper Table IV's columns plus the pruning rate. Undefined ratios (0/0) are reported as 0."""

    threshold: float
    accuracy: float
    precision: float
    recall: float
    f1: float
    false_omission_rate: float
    prune_rate: float  # share of layouts predicted positive, i.e. not routed
    positive_rate: float  # share of layouts labelled bad (FOR without pruning)
    n: int

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1)
    if s.shape != y.shape:
        raise InputError("labels", f"{y.shape[0]} labels for {s.shape[0]} scores")
    if not np.isfinite(s).all():
        raise InputError("scores", "scores must be finite")
    if not np.isin(y, (0, 1)).all():
        raise InputError("labels", "labels must be 0 or 1")
    return s, y.astype(bool)


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def confusion(scores: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> Confusion:
    """Confusion counts; scores (N,) probabilities (or logits with a logit threshold), labels (N,) 0/1."""
    s, y = _check(scores, labels)
    pred = s >= threshold
    return Confusion(
        tp=int(np.sum(pred & y)), fp=int(np.sum(pred & ~y)), tn=int(np.sum(~pred & ~y)), fn=int(np.sum(~pred & y))
    )


def metrics_from_confusion(c: Confusion, threshold: float = 0.5) -> Metrics:
    precision = _ratio(c.tp, c.tp + c.fp)
    recall = _ratio(c.tp, c.tp + c.fn)
    return Metrics(
        threshold=float(threshold),
        accuracy=_ratio(c.tp + c.tn, c.n),
        precision=precision,
        recall=recall,
        f1=2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        false_omission_rate=_ratio(c.fn, c.tn + c.fn),
        prune_rate=_ratio(c.tp + c.fp, c.n),
        positive_rate=_ratio(c.tp + c.fn, c.n),
        n=c.n,
    )


def evaluate(scores: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> Metrics:
    """All metrics at one threshold."""
    return metrics_from_confusion(confusion(scores, labels, threshold), threshold)


def choose_threshold(
    scores: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    target_for: float | None = None,
    prune_rate: float | None = None,
) -> float:
    """Threshold on validation scores for one operating point; layouts with score >= threshold are pruned.

    target_for: the *highest* threshold (fewest layouts pruned) whose FOR on this data is <= target_for;
        pruning everything (FOR 0) is the fallback when no threshold reaches it.
    prune_rate: the threshold that prunes round(prune_rate * N) layouts (fewer if ties straddle the cut).
        Needs no labels.
    """
    if (target_for is None) == (prune_rate is None):
        raise InputError("target_for", "give exactly one of target_for and prune_rate")
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.size == 0:
        raise InputError("scores", "need at least one validation score")
    order = np.sort(s)  # (N,) ascending: a cut at k keeps order[:k], prunes order[k:]
    n = s.size
    # Valid cuts fall between distinct scores (ties go together), plus keep-none (0) and keep-all (n).
    ks = np.concatenate([[0], np.flatnonzero(np.diff(order) > 0) + 1, [n]])
    if prune_rate is not None:
        if not 0.0 <= prune_rate <= 1.0:
            raise InputError("prune_rate", f"must lie in [0, 1], got {prune_rate}")
        want_kept = n - int(round(prune_rate * n))
        k = int(ks[ks >= want_kept][0])  # the smallest valid cut keeping at least that many
    else:
        if labels is None:
            raise InputError("labels", "target_for needs validation labels")
        target = float(target_for)  # type: ignore[arg-type]  # not None: checked above
        if not 0.0 <= target <= 1.0:
            raise InputError("target_for", f"must lie in [0, 1], got {target_for}")
        s, y = _check(s, labels)
        bad_sorted = y[np.argsort(s, kind="stable")].astype(np.int64)
        fn = np.concatenate([[0], np.cumsum(bad_sorted)])[ks]  # (K,) bad layouts kept at each cut
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(ks > 0, fn / np.maximum(ks, 1), 0.0)  # FOR at each cut
        k = int(ks[rate <= target + 1e-12].max())  # ks[0] == 0 always qualifies
    if k >= n:
        return float(np.nextafter(order[-1], np.inf))  # above every score: prune nothing
    return float(order[k])


PROBABILITY_EPS = 1e-7


def as_probability_threshold(threshold: float) -> float:
    """Clip a threshold into (0, 1), the range the model store and the service accept.

    `choose_threshold` returns a value just above the highest score when nothing should be pruned (possibly
    > 1), or the lowest score when everything should be (possibly 0); both ends map to the nearest storable
    probability, which prunes the same layouts unless a probability is within 1e-7 of 0 or 1.
    """
    return float(min(max(threshold, PROBABILITY_EPS), 1.0 - PROBABILITY_EPS))
