"""training.calibration: the score quantile at the bad share, its errors, the fallback without a circuit, and the
calibration.json that publish_model_dir publishes as the version's threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model_store import ModelStore, publish_model_dir, upgrade
from placeq.errors import InputError
from training.calibration import (
    bad_share,
    calibrate,
    calibrate_labelled,
    quantile_threshold,
    read_calibration,
    write_calibration,
)


def test_quantile_threshold_prunes_the_share() -> None:
    scores = np.random.default_rng(0).random(200)
    for share in (0.1, 0.25, 0.5):
        t = quantile_threshold(scores, share)
        assert int((scores >= t).sum()) == round(share * 200)
        assert 0.0 < t < 1.0


def test_bad_share_needs_good_and_bad_labels() -> None:
    assert bad_share(np.array([1, 0, 0, 0, -1])) == 0.25
    for labels in ([0, 0], [1, 1], [-1, -1]):
        with pytest.raises(InputError) as err:
            bad_share(np.array(labels))
        assert err.value.field == "labels"


def test_labelled_rule_is_the_quantile_of_the_labelled_scores() -> None:
    scores = np.linspace(0.05, 0.95, 16)
    labels = np.array([0] * 12 + [1] * 4)
    cal = calibrate_labelled(scores, labels, previous=0.5)
    assert cal.rule == "labelled" and cal.bad_share == 0.25 and cal.n_scored == 16
    assert cal.threshold == pytest.approx(scores[12])


def test_placed_rule_without_a_circuit_falls_back_to_labelled_and_says_so() -> None:
    x = np.zeros((8, 2, 4, 4), np.float32)
    x[:, 0, 0, 0] = np.arange(8) / 10

    def score(batch: np.ndarray) -> np.ndarray:
        return batch[:, 0, 0, 0].astype(np.float64)

    cal = calibrate("placed", circuit=None, score=score, x_labelled=x, labels=np.array([0] * 6 + [1] * 2),
                    previous=0.5, nofeat=True)
    assert cal.rule == "labelled" and "no circuit" in cal.note
    assert cal.threshold == pytest.approx(0.6)


def test_publish_model_dir_uses_the_calibrated_threshold(tmp_path: Path) -> None:
    from training.checkpoint import Checkpoint, publish
    from training.nets import build

    d = tmp_path / "model"
    sample = np.random.default_rng(0).random((2, 18, 64, 64), dtype=np.float32)
    publish(d, Checkpoint(model=build("fast3d"), threshold=0.5, design="ota2", metrics={"accuracy": 0.5}),
            sample=sample)
    cal = calibrate_labelled(np.linspace(0.1, 0.9, 8), np.array([0] * 6 + [1] * 2), previous=0.5)
    write_calibration(d, cal)
    assert read_calibration(d) == cal.record()
    url = f"sqlite:///{tmp_path / 'placeq.db'}"
    upgrade(url)
    with ModelStore(url, tmp_path / "blobs") as store:
        v = publish_model_dir(store, d, design="ota2", created_by="test")
    assert v.threshold == cal.threshold != 0.5
    assert v.metrics["threshold_calibration"] == cal.record()
