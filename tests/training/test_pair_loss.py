"""The within-design pairwise order loss of pretraining (training.pair_loss) and the per-design FOR."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from placeq.errors import InputError
from training.fit import predict_logits, seed_everything
from training.heuristics import design_mean_for, false_omission_rate
from training.nets import build
from training.pair_loss import GroupRanking, ordered_pairs
from training.pipeline import Options, fit_model
from training.synthetic import synthetic_task


def test_pairs_stay_within_their_group() -> None:
    worse, better = ordered_pairs(np.array([3.0, 1.0, 2.0, 0.0]), np.array([0, 0, 1, 1]))
    assert sorted(zip(worse.tolist(), better.tolist(), strict=True)) == [(0, 1), (2, 3)]


def test_grouped_pairs_are_the_same_group_pairs_of_all_pairs() -> None:
    rng = np.random.default_rng(0)
    badness, groups = rng.integers(0, 6, 60).astype(float), rng.integers(0, 4, 60)
    badness[3] = np.nan
    every = set(zip(*ordered_pairs(badness), strict=True))
    grouped = set(zip(*ordered_pairs(badness, groups), strict=True))
    assert grouped == {(w, v) for w, v in every if groups[w] == groups[v]} and grouped


def test_the_validation_loss_is_the_loss_over_every_validation_row() -> None:
    rng = np.random.default_rng(1)
    val_groups, val_badness = rng.integers(0, 3, 20), rng.normal(size=20)
    ranking = GroupRanking(val_groups, val_badness, 2.0, val_groups=val_groups, val_badness=val_badness)
    logits = torch.from_numpy(rng.normal(size=20))
    assert float(ranking.val_loss(logits)) == pytest.approx(float(ranking.loss(logits, np.arange(20))))


def test_batches_hold_every_row_once_in_same_group_blocks() -> None:
    groups = np.repeat([0, 1, 2], [40, 33, 7])
    ranking = GroupRanking(groups, np.arange(80.0), block=8)
    batches = ranking.batches(np.random.default_rng(0), batch_size=32)
    assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(80))
    for b in batches:  # at most 4 blocks: at most 4 designs, and every design present has a pair
        present, counts = np.unique(groups[b], return_counts=True)
        assert len(present) <= 4 and counts.min() >= 2
    with pytest.raises(InputError, match="ranking"):
        GroupRanking(groups, np.arange(79.0))


def test_the_loss_ranks_within_designs_only() -> None:
    ranking = GroupRanking(np.array([0, 0, 1, 1]), np.array([1.0, 0.0, 0.0, 1.0]))
    right = torch.tensor([5.0, -5.0, -5.0, 5.0])  # within each design the worse one scores higher
    across = torch.tensor([5.0, -5.0, 5.0, 15.0])  # design 1 scored far above design 0: no pair compares them
    idx = np.arange(4)
    assert float(ranking.loss(right, idx)) < 1e-4 and float(ranking.loss(across, idx)) < 1e-4
    assert float(ranking.loss(-right, idx)) > 5


def test_design_mean_for_prunes_each_design_on_its_own() -> None:
    bad = np.array([1, 0, 0, 0, 1, 0, 0, 0], dtype=bool)
    groups = np.repeat([0, 1], 4)
    score = np.array([0.9, 0.1, 0.2, 0.3, 0.05, 0.01, 0.02, 0.03])  # right within each design, not across
    assert design_mean_for(score, bad, groups) == 0.0
    assert false_omission_rate(score, bad) > 0  # a pooled cut prunes design 0's layouts only
    assert design_mean_for(np.zeros(8), bad, groups, 0.0) == pytest.approx(0.25)


def _centre(mask: np.ndarray) -> np.ndarray:
    """(n, 2) row and column centre of each (n, 64, 64) mask."""
    rows, cols = np.nonzero(np.ones((64, 64)))
    w = mask.reshape(len(mask), -1)
    out: np.ndarray = np.stack([w @ rows, w @ cols], axis=1) / w.sum(axis=1, keepdims=True)
    return out


@pytest.mark.slow
def test_pretraining_with_the_pair_loss_learns_the_order_the_bce_sees() -> None:
    """Two synthetic 'designs' whose badness is the boxes' distance: BCE plus the pair loss learns an order
    that prunes each design's worst layouts better than chance on held-out rows."""
    x, _ = synthetic_task(256, seed=5)
    distance = np.hypot(*(_centre(x[:, 0] > 0) - _centre(x[:, 3] > 0)).T)  # first-stage box to other-stage box
    groups = np.repeat([0, 1], 128)
    y = np.zeros(256, dtype=np.int64)
    for g in (0, 1):
        m = groups == g
        y[m] = distance[m] >= np.quantile(distance[m], 0.75)
    split = {"train": np.r_[0:96, 128:224], "val": np.r_[96:112, 224:240], "test": np.r_[112:128, 240:256]}
    seed_everything(0)
    model = build("fast3d")
    options = Options(epochs=8, seed=0, threads=1, device="cpu", balanced=True, score_train=False)
    fitted = fit_model(model, x, y, split, options, finetune=False, pair_groups=groups, pair_badness=distance,
                       pair_weight=1.0)
    assert fitted.result.history[0].val_loss is not None
    te = split["test"]
    scores = predict_logits(model, x[te])
    assert design_mean_for(scores, y[te] == 1, groups[te]) < design_mean_for(np.zeros(len(te)), y[te] == 1,
                                                                             groups[te], 0.0)
    with pytest.raises(InputError, match="pair_weight"):
        fit_model(build("fast3d"), x, y, split, options, finetune=False, pair_weight=1.0)
