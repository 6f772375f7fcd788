"""Publishing a model directory (`training.pipeline`: `placeq train` / `placeq finetune`, the fine-tune job, the
shipped base model) into the model store: the one publish path.

A directory holds model.onnx (what the service scores with) and model.pt (the torch weights, which fine-tuning
jobs start from). Both go into the content-addressed blob store; the ONNX metadata names the checkpoint's sha256,
so a version stays fine-tunable wherever its ONNX artifact goes. A directory whose fine-tune calibrated the
threshold for its design (calibration.json, `training.calibration`) is published with that threshold, and the
record of how it was calibrated goes into the version's metrics as ``threshold_calibration``; the ONNX metadata
keeps the threshold the model was trained with (the version row's threshold is the one the service uses).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from model_store.records import ModelRef, ModelVersion
from model_store.store import ModelStore
from placeq.artifact import CALIBRATION, ONNX, SUMMARY, WEIGHTS


def publish_model_dir(
    store: ModelStore,
    directory: str | Path,
    *,
    design: str,
    created_by: str,
    parent: ModelRef | None = None,
    activate: bool = False,
    reason: str = "",
    idempotency_key: str | None = None,
) -> ModelVersion:
    """Store the directory's weights blob and publish its ONNX file with model.json's metrics (and the calibrated
    threshold of calibration.json, when there is one). The key defaults to the ONNX bytes' hash, so publishing one
    directory twice gives one version."""
    d = Path(directory)
    onnx_bytes = (d / ONNX).read_bytes()
    summary: dict[str, Any] = json.loads((d / SUMMARY).read_text()) if (d / SUMMARY).exists() else {}
    weights = d / WEIGHTS
    if weights.exists():  # named by the ONNX metadata CHECKPOINT_KEY (training.checkpoint.publish)
        store.blobs.put(weights.read_bytes())
    metrics: dict[str, Any] = {k: v for k, v in summary.get("metrics", {}).items() if isinstance(v, int | float)}
    threshold: float | None = None  # None: the ONNX metadata's
    if (d / CALIBRATION).exists():
        calibration: dict[str, Any] = json.loads((d / CALIBRATION).read_text())
        threshold = float(calibration["threshold"])
        metrics["threshold_calibration"] = calibration
    return store.publish(
        design, onnx_bytes, created_by=created_by, metrics=metrics, threshold=threshold, parent=parent,
        idempotency_key=idempotency_key or f"dir-{hashlib.sha256(onnx_bytes).hexdigest()[:40]}", activate=activate,
        reason=reason,
    )
