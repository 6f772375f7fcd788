"""Quality labels (paper Sec. III-A): worst 25% -> 1, hand-computed arrays."""

from __future__ import annotations

import numpy as np
import pytest

from placeq.errors import InputError
from placeq.labels import balanced, critical_value, relabel, worst_quartile


def test_worst_quartile_of_offsets_uses_magnitude() -> None:
    # |offset| = 1..8; worst 25% = the two largest magnitudes: -8 and 7
    values = np.array([1.0, -8.0, 3.0, 7.0, -2.0, 5.0, 4.0, -6.0])
    assert worst_quartile(values, "offset").tolist() == [0, 1, 0, 1, 0, 0, 0, 0]


def test_worst_quartile_of_cmrr_is_the_lowest() -> None:
    values = np.array([80.0, 60.0, 95.0, 70.0, 90.0, 85.0, 55.0, 100.0])
    assert worst_quartile(values, "cmrr").tolist() == [0, 1, 0, 0, 0, 0, 1, 0]


def test_failed_simulations_stay_unlabelled() -> None:
    values = np.array([1.0, np.nan, 3.0, 4.0, 2.0])
    assert worst_quartile(values, "offset").tolist() == [0, -1, 0, 1, 0]


def test_balanced_keeps_best_and_worst_quarters() -> None:
    values = np.array([0.5, -4.0, 0.1, 3.0, 2.0, -0.2, 1.0, 6.0])  # |v| ranks: 0.1 0.2 0.5 1 2 3 4 6
    idx, lab = balanced(values, "offset")
    assert idx.tolist() == [1, 2, 5, 7]
    assert lab.tolist() == [1, 0, 0, 1]
    idx, lab = balanced(np.array([80.0, 60.0, 95.0, 70.0]), "cmrr")
    assert idx.tolist() == [1, 2] and lab.tolist() == [1, 0]


def test_few_shot_critical_value_relabels_new_data() -> None:
    train = np.array([1.0, 2.0, 3.0, 4.0, 5.0])  # 75th percentile of |v| = 4
    crit = critical_value(train, "offset")
    assert crit == pytest.approx(4.0)
    assert relabel(np.array([-4.5, 3.9, 10.0, np.nan]), crit, "offset").tolist() == [1, 0, 1, -1]
    crit_cmrr = critical_value(np.array([60.0, 70.0, 80.0, 90.0, 100.0]), "cmrr")
    assert crit_cmrr == pytest.approx(70.0)
    assert relabel(np.array([65.0, 75.0, 70.0]), crit_cmrr, "cmrr").tolist() == [1, 0, 1]


def test_bad_arguments_name_the_field() -> None:
    with pytest.raises(InputError, match="metric"):
        worst_quartile(np.ones(4), "gain")
    with pytest.raises(InputError, match="q"):
        critical_value(np.ones(4), "offset", q=1.5)
    with pytest.raises(InputError, match="train_values"):
        critical_value(np.array([np.nan]), "offset")
