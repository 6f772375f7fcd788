"""Pruning metrics (paper Sec. IV-A) on hand-computed confusion matrices, and threshold selection."""

from __future__ import annotations

import numpy as np
import pytest

from placeq.errors import InputError
from training.metrics import (
    Confusion,
    as_probability_threshold,
    choose_threshold,
    confusion,
    evaluate,
    metrics_from_confusion,
)


def test_confusion_counts_scores_at_or_above_threshold_as_pruned() -> None:
    scores = np.array([0.9, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    labels = np.array([1, 0, 1, 0, 1, 0, 0, 0])
    assert confusion(scores, labels, 0.5) == Confusion(tp=2, fp=2, tn=3, fn=1)


def test_metrics_match_hand_computed_values() -> None:
    # tp=30 fp=10 tn=50 fn=10: n=100
    m = metrics_from_confusion(Confusion(tp=30, fp=10, tn=50, fn=10), threshold=0.4)
    assert m.accuracy == pytest.approx(0.80)
    assert m.precision == pytest.approx(0.75)
    assert m.recall == pytest.approx(0.75)
    assert m.f1 == pytest.approx(0.75)
    assert m.false_omission_rate == pytest.approx(10 / 60)  # FN / (TN + FN), paper eq. (4)
    assert m.prune_rate == pytest.approx(0.40)
    assert m.positive_rate == pytest.approx(0.40)
    assert m.threshold == 0.4 and m.n == 100


def test_no_pruning_leaks_every_bad_layout() -> None:
    """Without pruning FOR equals the share of bad layouts (25% in the paper)."""
    labels = np.array([1] * 25 + [0] * 75)
    m = evaluate(np.zeros(100), labels, threshold=0.5)
    assert m.false_omission_rate == pytest.approx(0.25)
    assert m.prune_rate == 0.0
    assert m.precision == 0.0 and m.recall == 0.0 and m.f1 == 0.0  # 0/0 reported as 0


def test_evaluate_rejects_mismatched_or_non_binary_labels() -> None:
    with pytest.raises(InputError, match="labels"):
        evaluate(np.zeros(3), np.array([0, 1]))
    with pytest.raises(InputError, match="labels"):
        evaluate(np.zeros(2), np.array([0, 2]))


def _slow_for(scores: np.ndarray, labels: np.ndarray, t: float) -> float:
    kept = [lab for s, lab in zip(scores, labels, strict=True) if s < t]
    return sum(kept) / len(kept) if kept else 0.0


def test_threshold_for_target_for_prunes_as_little_as_possible() -> None:
    # Sorted ascending; bad layouts concentrate at high scores.
    scores = np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    labels = np.array([0, 0, 1, 0, 0, 0, 1, 0, 1, 1])
    t = choose_threshold(scores, labels, target_for=0.2)
    # keeping the 6 lowest gives FOR 1/6 <= 0.2; keeping 7 gives 2/7 > 0.2
    assert t == pytest.approx(0.6)
    assert evaluate(scores, labels, t).false_omission_rate == pytest.approx(1 / 6)
    # cross-check against a brute force over every candidate threshold
    candidates = sorted(set(scores)) + [1.0]
    ok = [c for c in candidates if _slow_for(scores, labels, c) <= 0.2]
    assert t == pytest.approx(max(ok))


def test_threshold_for_unreachable_target_prunes_everything() -> None:
    scores = np.array([0.1, 0.2, 0.3])
    labels = np.array([1, 1, 1])
    t = choose_threshold(scores, labels, target_for=0.1)
    assert evaluate(scores, labels, t).prune_rate == 1.0


def test_threshold_for_prune_rate_hits_the_budget() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random(1000)
    t = choose_threshold(scores, prune_rate=0.25)
    assert np.mean(scores >= t) == pytest.approx(0.25)
    assert np.mean(scores >= choose_threshold(scores, prune_rate=0.0)) == 0.0
    assert np.mean(scores >= choose_threshold(scores, prune_rate=1.0)) == 1.0


def test_threshold_never_splits_tied_scores() -> None:
    scores = np.array([0.1, 0.5, 0.5, 0.5, 0.9])
    t = choose_threshold(scores, prune_rate=0.4)  # 2 of 5 would split the tie at 0.5
    assert np.sum(scores >= t) in (1, 4)


def test_threshold_needs_exactly_one_target() -> None:
    with pytest.raises(InputError, match="target_for"):
        choose_threshold(np.zeros(3), np.zeros(3))
    with pytest.raises(InputError, match="target_for"):
        choose_threshold(np.zeros(3), np.zeros(3), target_for=0.1, prune_rate=0.1)
    with pytest.raises(InputError, match="prune_rate"):
        choose_threshold(np.zeros(3), prune_rate=1.5)


def test_thresholds_are_stored_as_probabilities_strictly_inside_0_1() -> None:
    scores = np.array([0.2, 0.7, 1.0])
    prune_nothing = choose_threshold(scores, prune_rate=0.0)
    assert prune_nothing > 1.0  # above every score
    assert 0.0 < as_probability_threshold(prune_nothing) < 1.0
    assert 0.0 < as_probability_threshold(0.0) < 1.0
    assert as_probability_threshold(0.3) == 0.3
