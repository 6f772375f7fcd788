"""Which placements to label next (`placeq.suggest`): each strategy's promise, on spaces built to show it."""

from __future__ import annotations

import numpy as np
import pytest

from placeq.decision import prune_mask
from placeq.errors import InputError
from placeq.space import subsets_of
from placeq.suggest import STRATEGIES, boundary, farthest_first, suggest

N = 200
SCORES = np.random.default_rng(0).random(N)
PRUNE = prune_mask(SCORES, 0.5, 0.25)
SUBSETS = np.random.default_rng(1).choice(1 << 10, size=N, replace=False)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_gives_k_distinct_new_placements_the_same_way_twice(strategy: str) -> None:
    done = np.arange(0, N, 3)  # a third already labelled
    picks = suggest(SCORES, PRUNE, SUBSETS, 16, strategy=strategy, seed=4, exclude=done)
    assert len(picks) == len(set(picks)) == 16 and not set(picks) & set(done.tolist())
    assert picks == suggest(SCORES, PRUNE, SUBSETS, 16, strategy=strategy, seed=4, exclude=done)


def test_stratified_takes_one_placement_from_each_slice_of_the_ranking() -> None:
    picks = suggest(SCORES, PRUNE, SUBSETS, 8, strategy="stratified")
    ranks = np.argsort(np.argsort(SCORES))[picks]
    assert sorted(ranks // (N // 8)) == list(range(8))


def test_uncertain_takes_the_placements_nearest_the_prune_border() -> None:
    border = boundary(SCORES, PRUNE)
    assert SCORES[~PRUNE].max() <= border <= SCORES[PRUNE].min()
    picks = suggest(SCORES, PRUNE, SUBSETS, 10, strategy="uncertain")
    assert set(picks) == set(np.argsort(np.abs(SCORES - border))[:10].tolist())


def test_uncertain_spread_trades_a_little_closeness_for_different_net_weightings() -> None:
    """Near the border sit near-copies (the same weighting but one net); spreading picks other weightings."""
    scores = np.concatenate([np.full(20, 0.5) + np.arange(20) * 1e-4, np.linspace(0, 1, 60)])
    subsets = np.concatenate([(1 << np.arange(20)) % 1024 | 0b1111100000, np.arange(60) * 17 % 1024])
    prune = prune_mask(scores, 0.5, 0.25)
    bits = subsets_of(subsets, 10)

    def spread(picks: list[int]) -> int:
        return int(min((bits[a] != bits[b]).sum() for i, a in enumerate(picks) for b in picks[i + 1:]))

    near = suggest(scores, prune, subsets, 5, strategy="uncertain")
    spread_picks = suggest(scores, prune, subsets, 5, strategy="uncertain_spread")
    assert spread(spread_picks) > spread(near)


def test_farthest_first_starts_where_told_and_never_repeats() -> None:
    bits = subsets_of(np.array([0, 1, 3, 1023, 512]), 10)
    picks = farthest_first(bits, 3)
    assert picks[:2] == [0, 3] and len(set(picks)) == 3


def test_bad_requests_name_the_field() -> None:
    with pytest.raises(InputError, match="strategy"):
        suggest(SCORES, PRUNE, SUBSETS, 4, strategy="psychic")
    with pytest.raises(InputError, match="k"):
        suggest(SCORES, PRUNE, SUBSETS, N + 1)
    with pytest.raises(InputError, match="k"):
        suggest(SCORES, PRUNE, SUBSETS, 4, exclude=np.arange(N - 2))
