"""Prometheus metrics of the service (the families Triton and KServe users scrape)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PREDICT_LATENCY = Histogram(
    "placeq_predict_seconds", "Time to rasterize and score one /predict call", ["design", "version"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
PREDICT_BATCH = Histogram(
    "placeq_predict_batch_size", "Placements per scoring call", ["design"], buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256)
)
LAYOUTS = Counter("placeq_layouts_scored_total", "Placements scored", ["design", "version"])
REJECTED = Counter("placeq_predict_rejected_total", "Predict calls refused with 503 (too many in flight)")
JOBS = Counter("placeq_jobs_submitted_total", "Jobs accepted", ["kind"])
LIVE_VERSION = Gauge("placeq_live_model_version", "Live model version per design", ["design"])


def observe_predict(design: str, version: int, n: int, seconds: float) -> None:
    PREDICT_LATENCY.labels(design, str(version)).observe(seconds)
    PREDICT_BATCH.labels(design).observe(n)
    LAYOUTS.labels(design, str(version)).inc(n)
