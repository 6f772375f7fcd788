"""Is this ONNX file a placeq model? Checked with onnxruntime alone (no torch), before anything is stored.

A placeq model takes one float32 input of shape (B, 18, 64, 64) (*feat*, paper Sec. III-C) or (B, 2, 64, 64)
(*nofeat*) with a free batch axis, and returns per-layout scores of shape (B,) or (B, 1). training.export writes
two outputs, "logit" and "probability"; any float output of that shape is accepted. The checks are the ones the
service would otherwise fail on later, at load time in every API process: the graph loads from bytes (so no
external weight files), the signature matches, a warm-up batch runs and gives finite scores, and the
metadata_props it carries (input_kind, threshold) agree with the graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from model_store.errors import ArtifactInvalid
from model_store.records import InputKind
from placeq.features import IMAGE_SIZE, N_CHANNELS, N_NOFEAT_CHANNELS

CHANNELS_TO_KIND: dict[int, InputKind] = {N_CHANNELS: "feat", N_NOFEAT_CHANNELS: "nofeat"}
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


def parse_threshold(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise _invalid(f"metadata_props threshold={raw!r} is not a number") from None
    if not (0.0 < value < 1.0) or math.isnan(value):
        raise _invalid(f"metadata_props threshold={value} is not a probability in (0, 1)")
    return value


def validate_artifact(data: bytes) -> ArtifactInfo:
    """Load, check and warm `data`; raise `ArtifactInvalid` (field "artifact") naming the first problem."""
    if not data:
        raise _invalid("empty file")
    session = _session(data)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise _invalid(f"expected 1 input, got {len(inputs)}: {[i.name for i in inputs]}")
    inp = inputs[0]
    if inp.type != "tensor(float)":
        raise _invalid(f"input {inp.name!r} is {inp.type}, expected tensor(float) (float32)")
    shape = list(inp.shape)
    expected = f"[B, {N_CHANNELS}|{N_NOFEAT_CHANNELS}, {IMAGE_SIZE}, {IMAGE_SIZE}]"
    if len(shape) != 4 or shape[1] not in CHANNELS_TO_KIND or shape[2:] != [IMAGE_SIZE, IMAGE_SIZE]:
        raise _invalid(f"input {inp.name!r} has shape {shape}, expected {expected}")
    if isinstance(shape[0], int):
        raise _invalid(f"input {inp.name!r} has a fixed batch size {shape[0]}; export with a dynamic batch axis")
    kind = CHANNELS_TO_KIND[shape[1]]
    if not outputs:
        raise _invalid("the graph has no outputs")
    for out in outputs:
        if out.type != "tensor(float)":
            raise _invalid(f"output {out.name!r} is {out.type}, expected tensor(float)")

    rng = np.random.default_rng(0)
    for batch in WARMUP_BATCHES:
        x = rng.random((batch, shape[1], IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)  # (B, C, 64, 64)
        try:
            results = session.run(None, {inp.name: x})
        except Exception as exc:
            raise _invalid(f"warm-up run at batch {batch} failed: {exc}") from None
        for out, y in zip(outputs, results, strict=True):
            y = np.asarray(y)
            if y.shape not in ((batch,), (batch, 1)):
                got = list(y.shape)
                raise _invalid(f"output {out.name!r} has shape {got} at batch {batch}, expected [B] or [B, 1]")
            if not np.all(np.isfinite(y)):
                raise _invalid(f"output {out.name!r} is not finite on the warm-up batch")

    meta = dict(session.get_modelmeta().custom_metadata_map)
    if "input_kind" in meta and meta["input_kind"] != kind:
        said = meta["input_kind"]
        raise _invalid(f"metadata_props input_kind={said!r} but the input has {shape[1]} channels ({kind})")
    threshold = parse_threshold(meta["threshold"]) if "threshold" in meta else None
    return ArtifactInfo(
        input_name=inp.name,
        input_kind=kind,
        output_names=tuple(o.name for o in outputs),
        metadata=meta,
        threshold=threshold,
        arch=meta.get("architecture") or None,
    )
