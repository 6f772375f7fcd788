"""Is this ONNX file a placeq model? Checked with onnxruntime alone (no torch), before anything is stored.

A placeq model takes one float32 input of shape (B, 18, 64, 64) (*feat*, paper Sec. III-C) or (B, 2, 64, 64)
(*nofeat*) with a free batch axis, and returns per-layout scores of shape (B,) or (B, 1). training.export writes
two outputs, "logit" and "probability"; any float output of that shape is accepted. The checks are the ones the
service would otherwise fail on later, at load time in every API process: the graph loads from bytes (so no
external weight files), the signature matches, a warm-up batch runs and gives finite scores, and the
metadata_props it carries (input_kind, threshold) agree with the graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from model_store.errors import ArtifactInvalid
from placeq.artifact import (
    KEY_ARCHITECTURE,
    KEY_THRESHOLD,
    InputKind,
    SignatureError,
    check_signature,
    parse_threshold,
    ports,
)
from placeq.features import IMAGE_SIZE

WARMUP_BATCHES = (1, 3)  # batch 1 and a larger one exercise the dynamic batch axis


@dataclass(frozen=True)
class ArtifactInfo:
    """What validation learned about an artifact."""

    input_name: str
    input_kind: InputKind
    output_names: tuple[str, ...]
    metadata: dict[str, str]
    threshold: float | None  # from metadata_props "threshold", if present
    arch: str | None  # from metadata_props "architecture", if present


def _invalid(message: str) -> ArtifactInvalid:
    return ArtifactInvalid("artifact", message)


def _session(data: bytes) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises untyped errors (Fail, InvalidGraph, InvalidProtobuf, ...)
        raise _invalid(f"onnxruntime cannot load it: {exc}") from None


def validate_artifact(data: bytes) -> ArtifactInfo:
    """Load, check (placeq.artifact.check_signature) and warm `data`; raise `ArtifactInvalid` (field "artifact")
    naming the first problem."""
    if not data:
        raise _invalid("empty file")
    session = _session(data)
    outputs = session.get_outputs()
    meta = dict(session.get_modelmeta().custom_metadata_map)
    try:
        sig = check_signature(ports(session.get_inputs()), ports(outputs), meta)
        threshold = parse_threshold(meta[KEY_THRESHOLD]) if KEY_THRESHOLD in meta else None
    except SignatureError as exc:
        raise _invalid(str(exc)) from None

    rng = np.random.default_rng(0)
    for batch in WARMUP_BATCHES:
        x = rng.random((batch, sig.channels, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)  # (B, C, 64, 64)
        try:
            results = session.run(None, {sig.input_name: x})
        except Exception as exc:
            raise _invalid(f"warm-up run at batch {batch} failed: {exc}") from None
        for out, y in zip(outputs, results, strict=True):
            y = np.asarray(y)
            if y.shape not in ((batch,), (batch, 1)):
                got = list(y.shape)
                raise _invalid(f"output {out.name!r} has shape {got} at batch {batch}, expected [B] or [B, 1]")
            if not np.all(np.isfinite(y)):
                raise _invalid(f"output {out.name!r} is not finite on the warm-up batch")
    return ArtifactInfo(
        input_name=sig.input_name,
        input_kind=sig.input_kind,
        output_names=sig.output_names,
        metadata=meta,
        threshold=threshold,
        arch=meta.get(KEY_ARCHITECTURE) or None,
    )
