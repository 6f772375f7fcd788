"""Model directories: weights with the config that rebuilds them, the threshold, metrics and history.

A model directory (``var/models/ota1``) holds
    model.pt      torch: net config, state dict, train config, threshold, design, metrics (weights_only-safe)
    model.onnx    the verified, self-contained ONNX export (training.export)
    model.json    the same metadata as plain JSON, plus the ONNX sha256, for people and the model store
Checkpoints carry their config and metrics (nanoGPT's habit), so `training.pipeline.finetune_model` and the
report can rebuild a model without knowing how it was trained. File names come from `placeq.artifact`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from placeq.artifact import CHECKPOINT_KEY, ONNX, SPLIT, SUMMARY, WEIGHTS
from placeq.errors import InputError
from training.export import ExportReport, export_onnx, placeq_version
from training.nets import PlacementNet, from_config


@dataclass
class Checkpoint:
    model: PlacementNet
    threshold: float = 0.5
    design: str = ""
    train_config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. base model, alpha, split seed, history


def save_checkpoint(directory: str | Path, ckpt: Checkpoint) -> Path:
    """Write model.pt and model.json into `directory` (created); returns the weights path."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    payload = {
        "net_config": ckpt.model.config.model_dump(mode="json"),
        "state_dict": ckpt.model.state_dict(),
        "threshold": float(ckpt.threshold),
        "design": ckpt.design,
        "train_config": ckpt.train_config,
        "metrics": {k: float(v) for k, v in ckpt.metrics.items()},
        "extra_json": json.dumps(ckpt.extra, sort_keys=True, default=str),
        "placeq_version": placeq_version(),
    }
    tmp = d / (WEIGHTS + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(d / WEIGHTS)
    write_summary(d, ckpt)
    return d / WEIGHTS


def write_summary(directory: Path, ckpt: Checkpoint, **more: Any) -> None:
    path = directory / SUMMARY
    summary: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    summary.update(
        {
            "architecture": ckpt.model.config.arch,
            "input_kind": ckpt.model.config.input_kind,
            "net_config": ckpt.model.config.model_dump(mode="json"),
            "threshold": float(ckpt.threshold),
            "design": ckpt.design,
            "train_config": ckpt.train_config,
            "metrics": {k: float(v) for k, v in ckpt.metrics.items()},
            "extra": ckpt.extra,
            "placeq_version": placeq_version(),
            **more,
        }
    )
    path.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")


def load_checkpoint(directory: str | Path) -> Checkpoint:
    """Rebuild the model (eval mode) and its metadata from a model directory or a model.pt path."""
    p = Path(directory)
    weights = p / WEIGHTS if p.is_dir() else p
    if not weights.exists():
        raise InputError("base", f"no checkpoint at {weights}")
    payload = torch.load(weights, map_location="cpu", weights_only=True)
    model = from_config(payload["net_config"])
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return Checkpoint(
        model=model,
        threshold=float(payload["threshold"]),
        design=str(payload["design"]),
        train_config=dict(payload["train_config"]),
        metrics=dict(payload["metrics"]),
        extra=json.loads(payload.get("extra_json", "{}")),
    )


def weights_sha256(directory: str | Path) -> str:
    """sha256 of a model directory's (or a model.pt path's) weights: the name its ONNX file gives them
    (`CHECKPOINT_KEY`) and the store's blob key, so lineage records name a model by it."""
    p = Path(directory)
    return hashlib.sha256((p / WEIGHTS if p.is_dir() else p).read_bytes()).hexdigest()


def publish(
    directory: str | Path,
    ckpt: Checkpoint,
    *,
    sample: np.ndarray,
    split: dict[str, np.ndarray] | None = None,
) -> ExportReport:
    """Write a complete model directory: weights, split indices, the verified ONNX file, model.json.

    The ONNX export is checked against torch on `sample` (real layouts) before anything is reported done.
    """
    d = Path(directory)
    save_checkpoint(d, ckpt)
    if split is not None:
        np.savez(d / SPLIT, **split)  # type: ignore[arg-type]
    # The ONNX file names the weights it came from, so a service that holds only the ONNX artifact can find the
    # torch checkpoint (stored beside it in the content-addressed blob store) and fine-tune from it.
    weights_sha = weights_sha256(d)
    report = export_onnx(
        ckpt.model,
        d / ONNX,
        sample=sample,
        threshold=ckpt.threshold,
        design=ckpt.design,
        extra_metadata={CHECKPOINT_KEY: weights_sha},
    )
    write_summary(
        d,
        ckpt,
        onnx={
            "file": ONNX,
            "sha256": report.sha256,
            "bytes": report.size_bytes,
            "opset": report.opset,
            "max_abs_diff_logit": report.max_abs_diff_logit,
            "max_abs_diff_probability": report.max_abs_diff_probability,
        },
    )
    return report


def load_split(directory: str | Path) -> dict[str, np.ndarray] | None:
    p = Path(directory) / SPLIT
    if not p.exists():
        return None
    with np.load(p) as f:
        return {k: f[k] for k in f.files}
