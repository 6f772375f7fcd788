"""Publishing a trained model directory (from `placeq train` / `placeq finetune`) into the model store.

A directory holds model.onnx (what the service scores with) and model.pt (the torch weights, which fine-tuning
jobs start from). Both go into the content-addressed blob store; the ONNX metadata names the checkpoint's sha256,
so a version stays fine-tunable wherever its ONNX artifact goes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from model_store import ModelRef, ModelStore, ModelVersion


def publish_model_dir(
    store: ModelStore,
    directory: str | Path,
    *,
    design: str,
    created_by: str,
    parent: ModelRef | None = None,
    activate: bool = False,
    reason: str = "",
) -> ModelVersion:
    d = Path(directory)
    onnx_bytes = (d / "model.onnx").read_bytes()
    summary: dict[str, Any] = json.loads((d / "model.json").read_text()) if (d / "model.json").exists() else {}
    weights = d / "model.pt"
    if weights.exists():  # named by the ONNX metadata "checkpoint_sha256" (training.checkpoint.publish)
        store.blobs.put(weights.read_bytes())
    metrics = {k: v for k, v in summary.get("metrics", {}).items() if isinstance(v, int | float)}
    return store.publish(
        design, onnx_bytes, created_by=created_by, metrics=metrics, parent=parent,
        idempotency_key=f"dir-{hashlib.sha256(onnx_bytes).hexdigest()[:40]}", activate=activate, reason=reason,
    )
