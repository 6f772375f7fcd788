"""The ONNX artifact contract: what a placeq model file is, written once for the exporter, the store and the scorer.

A placeq model takes one float32 input ``features`` of shape (B, 18, 64, 64) (*feat*, paper Sec. III-C) or
(B, 2, 64, 64) (*nofeat*) with a free batch axis, and returns per-layout scores of shape (B,) or (B, 1).
`training.export` writes two outputs, ``logit`` and ``probability``; any float output of that shape is accepted,
and the probability is scored when the graph has one. The metadata_props below travel inside the file, so a
process that holds only the ONNX bytes (the API, the model store) knows the threshold, the architecture and
the torch checkpoint a fine-tune starts from.

A model *directory* (what `placeq train` / `placeq finetune` and the fine-tune job write) holds `WEIGHTS`,
`ONNX`, `SUMMARY` and, for trained models, `SPLIT`; a fine-tune that calibrated its threshold for the design
adds `CALIBRATION`, whose threshold is the one the model is published with.

Torch-free and onnxruntime-free: `check_signature` reads the inputs and outputs as plain (name, type, shape)
tuples, so each caller passes what its own runtime reports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from placeq.errors import PlaceqError
from placeq.features import IMAGE_SIZE, N_CHANNELS, N_NOFEAT_CHANNELS

InputKind = Literal["feat", "nofeat"]
BASE_DESIGN = "base"  # the fallback model's design name: scores any design that has no live model of its own

# Graph signature.
OPSET = 18
INPUT_NAME = "features"
OUTPUT_NAMES: tuple[str, str] = ("logit", "probability")
CHANNELS_TO_KIND: dict[int, InputKind] = {N_CHANNELS: "feat", N_NOFEAT_CHANNELS: "nofeat"}
KIND_TO_CHANNELS: dict[InputKind, int] = {kind: c for c, kind in CHANNELS_TO_KIND.items()}

# metadata_props keys.
KEY_ARCHITECTURE = "architecture"
KEY_INPUT_KIND = "input_kind"
KEY_THRESHOLD = "threshold"
KEY_DESIGN = "design"
KEY_NET_CONFIG = "net_config"
CHECKPOINT_KEY = "checkpoint_sha256"  # sha256 of the model.pt the graph was exported from (a blob in the store)

# Model directory files.
WEIGHTS = "model.pt"
ONNX = "model.onnx"
SUMMARY = "model.json"
SPLIT = "split.npz"
CALIBRATION = "calibration.json"  # a threshold calibrated for the design after training (training.calibration)


class SignatureError(PlaceqError):
    """The graph's inputs or outputs are not a placeq model's (or its metadata contradicts them)."""


@dataclass(frozen=True)
class Port:
    """One graph input or output as a runtime reports it: name, element type ("tensor(float)"), shape."""

    name: str
    type: str
    shape: tuple[int | str | None, ...]


def ports(nodes: Iterable[Any]) -> tuple[Port, ...]:
    """`Port`s of runtime node descriptions with ``.name``, ``.type``, ``.shape`` (onnxruntime's NodeArg)."""
    return tuple(Port(str(n.name), str(n.type), tuple(n.shape)) for n in nodes)


@dataclass(frozen=True)
class Signature:
    """What a valid graph's ports say: the input to feed, and the output to score."""

    input_name: str
    input_kind: InputKind
    output_names: tuple[str, ...]
    output_name: str  # "probability" when the graph has it, else its first output (read as a logit)
    output_kind: Literal["probability", "logit"]

    @property
    def channels(self) -> int:
        return KIND_TO_CHANNELS[self.input_kind]


def check_signature(
    inputs: Sequence[Port], outputs: Sequence[Port], metadata: dict[str, str] | None = None
) -> Signature:
    """The one signature check: raise `SignatureError` naming the first problem, else the `Signature`."""
    if len(inputs) != 1:
        raise SignatureError(f"expected 1 input, got {len(inputs)}: {[i.name for i in inputs]}")
    inp = inputs[0]
    if inp.type != "tensor(float)":
        raise SignatureError(f"input {inp.name!r} is {inp.type}, expected tensor(float) (float32)")
    shape = list(inp.shape)
    expected = f"[B, {N_CHANNELS}|{N_NOFEAT_CHANNELS}, {IMAGE_SIZE}, {IMAGE_SIZE}]"
    if len(shape) != 4 or shape[1] not in CHANNELS_TO_KIND or shape[2:] != [IMAGE_SIZE, IMAGE_SIZE]:
        raise SignatureError(f"input {inp.name!r} has shape {shape}, expected {expected}")
    if isinstance(shape[0], int):
        raise SignatureError(f"input {inp.name!r} has a fixed batch size {shape[0]}; export with a dynamic batch axis")
    kind = CHANNELS_TO_KIND[int(shape[1])]
    if not outputs:
        raise SignatureError("the graph has no outputs")
    for out in outputs:
        if out.type != "tensor(float)":
            raise SignatureError(f"output {out.name!r} is {out.type}, expected tensor(float)")
    said = (metadata or {}).get(KEY_INPUT_KIND)
    if said is not None and said != kind:
        raise SignatureError(f"metadata_props input_kind={said!r} but the input has {shape[1]} channels ({kind})")
    names = tuple(o.name for o in outputs)
    scored = OUTPUT_NAMES[1] if OUTPUT_NAMES[1] in names else names[0]
    return Signature(
        input_name=inp.name,
        input_kind=kind,
        output_names=names,
        output_name=scored,
        output_kind="probability" if scored == OUTPUT_NAMES[1] else "logit",
    )


def parse_threshold(raw: str) -> float:
    """metadata_props ``threshold`` as a probability in (0, 1); `SignatureError` otherwise."""
    try:
        value = float(raw)
    except ValueError:
        raise SignatureError(f"metadata_props threshold={raw!r} is not a number") from None
    if not (0.0 < value < 1.0) or math.isnan(value):
        raise SignatureError(f"metadata_props threshold={value} is not a probability in (0, 1)")
    return value
