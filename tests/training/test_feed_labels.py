"""Label files for train / finetune / evaluate: what `placeq labels` writes, and what `placeq simulate` writes."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from placeq.errors import InputError
from placeq.labels import label_array
from training.feed import load_labels

# |offset| in mV: 0.5 1 2 3 4 5 6 7 and one failed simulation (row 2); rows out of order as the simulator may
# write them.
ROWS = [(3, -4e-3, "ok"), (0, 1e-3, "ok"), (2, None, "failed"), (1, 2e-3, "ok"), (4, 5e-3, "ok"),
        (5, -6e-3, "ok"), (6, 0.5e-3, "ok"), (7, 3e-3, "ok"), (8, 7e-3, "ok")]


def _simulate_table(path: Path) -> Path:
    cols = {"index": [r[0] for r in ROWS], "value": [r[1] for r in ROWS], "status": [r[2] for r in ROWS],
            "metric": ["offset"] * len(ROWS), "reason": ["" if r[2] == "ok" else "no convergence" for r in ROWS]}
    pq.write_table(pa.table(cols), path)
    return path


def test_a_simulate_table_is_labelled_by_the_worst_quartile_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """docs/models.md hands `placeq simulate`'s table to `placeq finetune --labels`; it used to stop with "no
    'label' column" and no way forward."""
    table = _simulate_table(tmp_path / "ota2.labels.parquet")
    with caplog.at_level(logging.INFO, logger="training.feed"):
        y = load_labels(table)
    values = np.full(len(ROWS), np.nan)
    for i, v, s in ROWS:
        values[i] = np.nan if s != "ok" or v is None else v
    np.testing.assert_array_equal(y, label_array(values, "offset", "quartile"))
    assert y[2] == -1 and (y == 1).sum() == 2  # the failed row is unused; worst 25% of 8 finite values
    assert "is a `placeq simulate` table" in caplog.text and "--mode balanced" in caplog.text


def test_a_table_without_labels_or_values_names_placeq_labels(tmp_path: Path) -> None:
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"index": [0, 1], "score": [0.1, 0.2]}), path)
    with pytest.raises(InputError) as exc:
        load_labels(path)
    assert "no 'label' column (columns: index, score)" in str(exc.value) and "placeq labels" in str(exc.value)


def test_label_arrays_and_label_columns_load_as_they_are(tmp_path: Path) -> None:
    np.save(tmp_path / "y.npy", np.array([1, 0, -1], dtype=np.int8))
    pq.write_table(pa.table({"label": [0, 1, 1]}), tmp_path / "y.parquet")
    np.testing.assert_array_equal(load_labels(tmp_path / "y.npy"), [1, 0, -1])
    np.testing.assert_array_equal(load_labels(tmp_path / "y.parquet"), [0, 1, 1])
