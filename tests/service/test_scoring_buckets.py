"""Batches run in bucket-sized pieces without padding, and every layout gets its own score whatever the split."""

from __future__ import annotations

import os

import numpy as np
import pytest
from tiny_onnx import tiny_model

from service.scoring import BATCH_BUCKETS, bucket_chunks, load_model, run_slots


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 63, 64, 65, 77, 200])
def test_chunks_cover_the_batch_with_bucket_sizes_largest_first(n: int) -> None:
    sizes = bucket_chunks(n)
    assert sum(sizes) == n
    assert set(sizes) <= set(BATCH_BUCKETS)
    assert sizes == sorted(sizes, reverse=True)
    assert sizes.count(1) < 8 and sizes.count(8) < 8  # never eight runs where one larger bucket would do


def test_scores_do_not_depend_on_how_the_batch_is_split() -> None:
    model = load_model(tiny_model(bias=0.25), design="base", version=1, sha256="x", threshold=0.5)
    x = np.random.default_rng(0).random((77, 18, 64, 64), dtype=np.float32)  # (B, C, H, W)
    expected = 1.0 / (1.0 + np.exp(-(x.mean(axis=(1, 2, 3)) + 0.25)))
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5)
    np.testing.assert_allclose(model.predict(x[:9]), expected[:9], rtol=1e-5)


def test_runs_in_flight_are_bounded_by_cores_per_thread_count() -> None:
    one, two = run_slots(1), run_slots(2)
    assert run_slots(1) is one  # one bound per process and thread count
    held = 0
    while one.acquire(blocking=False):
        held += 1
    for _ in range(held):
        one.release()
    assert held == len(os.sched_getaffinity(0))  # one run per core at one thread each
    assert two.acquire(blocking=False)
    two.release()
