"""Dataset files: Parquet and .jsonl round trips of a generated design space."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from placeq.batch import PlacementBatch
from placeq.domain import Placement
from placeq.errors import InputError
from training.dataset import read_batch, read_meta, read_net_weights, write_batch
from training.placer.config import PlacerConfig
from training.placer.examples import two_stage_ota
from training.placer.legality import check_legal
from training.placer.space import generate_space


@pytest.fixture(scope="module")
def generated() -> tuple[PlacementBatch, np.ndarray]:
    return generate_space(two_stage_ota(), count=6, seed=1, config=PlacerConfig(iterations=30, threads=1))


def test_parquet_round_trip_is_exact(tmp_path: Path, generated: tuple[PlacementBatch, np.ndarray]) -> None:
    batch, weights = generated
    path = write_batch(tmp_path / "space.parquet", batch, weights, {"seed": 1})
    back = read_batch(path)
    np.testing.assert_array_equal(back.boxes, batch.boxes)
    np.testing.assert_array_equal(back.pin_boxes, batch.pin_boxes)
    assert (back.device_names, back.kinds, back.tags, back.nets) == (
        batch.device_names, batch.kinds, batch.tags, batch.nets)
    np.testing.assert_array_equal(read_net_weights(path), weights)
    assert read_meta(path) == {"seed": 1}
    assert check_legal(back, two_stage_ota()).ok
    assert not list(tmp_path.glob("*.tmp"))


def test_jsonl_holds_one_api_placement_per_line(tmp_path: Path, generated: tuple[PlacementBatch, np.ndarray]) -> None:
    batch, weights = generated
    path = write_batch(tmp_path / "space.jsonl", batch, weights)
    lines = path.read_text().splitlines()
    assert len(lines) == len(batch)
    assert Placement.model_validate_json(lines[2]) == batch.placement(2)
    back = read_batch(path)
    np.testing.assert_allclose(back.boxes, batch.boxes)
    with pytest.raises(InputError, match="no net weights"):
        read_net_weights(path)


def test_bad_files_name_the_file(tmp_path: Path, generated: tuple[PlacementBatch, np.ndarray]) -> None:
    batch, weights = generated
    with pytest.raises(InputError, match="net_weights"):
        write_batch(tmp_path / "x.parquet", batch, weights[:, :3])
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(InputError, match="junk.parquet"):
        read_batch(junk)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(batch.placement(0).model_dump_json() + "\n{\"design\": 1}\n")
    with pytest.raises(InputError, match="bad.jsonl:2"):
        read_batch(bad)
    with pytest.raises(InputError, match="no such"):
        read_batch(tmp_path / "missing.parquet")
