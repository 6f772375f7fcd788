"""ONNX export for the torch-free service: one self-contained file, verified against torch before it is returned.

Choices (measured under torch 2.13 / onnxscript 0.7 / onnxruntime 1.32, see docs/models.md):
- the torch.export-based ("dynamo") exporter, torch's default; the TorchScript exporter is deprecated. Both
  gave correct Conv3d / GroupNorm / BatchNorm graphs here, dynamo was as fast or faster in onnxruntime.
- opset 18, pinned: the dynamo exporter's lowest native opset. Asking for 17 makes it down-convert, and that
  conversion fails for GroupNorm graphs (ReduceMean axes). onnxruntime >= 1.14 runs opset 18.
- ``external_data=False``: torch 2.13 writes weights beside the graph by default, and a model loaded from bytes
  out of the model store would then fail. One file = one sha256.
- The graph returns both the logit and the probability of "prune", each (B,), with a dynamic batch axis.
- A 3D body is exported as 2D convolutions over stacked depth (`training.fold`): the same function within float
  error, in the Conv2d kernels onnxruntime runs about 1.7x faster than its Conv3d (docs/performance.md). The
  parity check below compares the exported graph with the unfolded torch net. ``fold=False`` exports as is.
- The dynamo exporter has shipped silently wrong graphs (pytorch#169178, #166797), so every export is run in
  onnxruntime on the caller's real inputs and compared with torch; `ExportMismatch` if they differ.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from placeq import __version__
from placeq.artifact import (
    INPUT_NAME,
    KEY_ARCHITECTURE,
    KEY_DESIGN,
    KEY_INPUT_KIND,
    KEY_NET_CONFIG,
    KEY_THRESHOLD,
    OPSET,
    OUTPUT_NAMES,
    SignatureError,
    check_signature,
    ports,
)
from placeq.errors import InputError, PlaceqError
from training.fold import fold_depth
from training.nets import PlacementNet


def placeq_version() -> str:
    return __version__


DEFAULT_ATOL = 1e-4


class ExportMismatch(PlaceqError):
    """The exported ONNX graph disagrees with the torch model (or is not self-contained)."""


@dataclass(frozen=True)
class ExportReport:
    path: Path
    sha256: str
    size_bytes: int
    opset: int
    max_abs_diff_logit: float
    max_abs_diff_probability: float
    metadata: dict[str, str]


class _Scored(nn.Module):
    """(B, C, 64, 64) -> logit (B,), probability (B,)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logit = self.net(x)
        return logit, torch.sigmoid(logit)


def model_metadata(
    model: PlacementNet, *, threshold: float, design: str = "", extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The metadata_props the service reads without torch."""
    c = model.config
    meta = {
        KEY_ARCHITECTURE: c.arch,
        KEY_INPUT_KIND: c.input_kind,
        "input_name": INPUT_NAME,
        "input_shape": ",".join(str(d) for d in c.input_shape),
        "outputs": ",".join(OUTPUT_NAMES),
        "positive_class": "prune: predicted worst quartile of the design's metric",
        KEY_THRESHOLD: repr(float(threshold)),
        KEY_DESIGN: design,
        "placeq_version": placeq_version(),
        "torch_version": torch.__version__,
        "opset": str(OPSET),
        KEY_NET_CONFIG: json.dumps(c.model_dump(mode="json"), sort_keys=True),
    }
    meta.update(extra or {})
    return meta


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_onnx(
    model: PlacementNet,
    path: str | Path,
    *,
    sample: np.ndarray,
    threshold: float = 0.5,
    design: str = "",
    extra_metadata: dict[str, str] | None = None,
    atol: float = DEFAULT_ATOL,
    fold: bool = True,
) -> ExportReport:
    """Write `model` to `path` as one ONNX file with metadata, after checking it on `sample` (b, C, 64, 64).

    `sample` should be real rasterized layouts (a few dozen suffice); it is also run at batch 1 to exercise the
    dynamic batch axis. Raises `ExportMismatch` when |onnx - torch| > atol on logits or probabilities. With
    `fold` a 3D body is written as 2D convolutions over stacked depth (`training.fold`), checked against `model`.
    """
    import onnx
    import onnxruntime as ort

    path = Path(path)
    if not 0.0 < threshold < 1.0:
        raise InputError("threshold", f"{threshold} is not a probability in (0, 1); see as_probability_threshold")
    x = np.ascontiguousarray(sample, dtype=np.float32)
    if x.ndim != 4 or tuple(x.shape[1:]) != model.config.input_shape or len(x) == 0:
        raise ExportMismatch(f"sample: expected (b, {model.config.input_shape}), got {x.shape}")
    was_training = model.training
    model.eval()
    wrapped = _Scored(model).eval()
    folded = fold_depth(model) if fold else None
    graph = _Scored(folded).eval() if folded is not None else wrapped
    example = torch.from_numpy(x[: max(2, min(len(x), 4))] if len(x) >= 2 else np.concatenate([x, x]))
    path.parent.mkdir(parents=True, exist_ok=True)
    # The exporter logs per-pass INFO lines and "torchvision is not installed" notices; keep warnings only.
    noisy = [logging.getLogger(name) for name in ("torch.onnx", "onnx_ir", "onnxscript")]
    levels = [lg.level for lg in noisy]
    for lg in noisy:
        lg.setLevel(logging.WARNING if lg.name != "torch.onnx" else logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                graph,
                (example,),
                dynamo=True,
                opset_version=OPSET,
                input_names=[INPUT_NAME],
                output_names=list(OUTPUT_NAMES),
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                external_data=False,
                verbose=False,
            )
    finally:
        for lg, lvl in zip(noisy, levels, strict=True):
            lg.setLevel(lvl)
        model.train(was_training)
    if program is None:
        raise ExportMismatch("torch.onnx.export returned no program")
    proto = program.model_proto
    extra = {"body_graph": "conv2d over stacked depth" if folded is not None else "as built", **(extra_metadata or {})}
    metadata = model_metadata(model, threshold=threshold, design=design, extra=extra)
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    for init in proto.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            raise ExportMismatch(f"initializer {init.name} is stored as external data")
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(proto.SerializeToString())

    # Parity on real inputs, from the serialized bytes, at the full sample and at batch 1.
    session = ort.InferenceSession(tmp.read_bytes(), providers=["CPUExecutionProvider"])
    try:  # the contract the model store and the scorer hold every artifact to
        check_signature(ports(session.get_inputs()), ports(session.get_outputs()), metadata)
    except SignatureError as exc:
        tmp.unlink()
        raise ExportMismatch(f"the exported graph breaks the artifact contract: {exc}") from exc
    diffs = np.zeros(2)
    model.eval()
    with torch.no_grad():
        for batch in (x, x[:1]):
            ref_logit, ref_prob = (t.numpy() for t in wrapped(torch.from_numpy(batch)))
            got_logit, got_prob = session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
            if got_logit.shape != ref_logit.shape or got_prob.shape != ref_prob.shape:
                tmp.unlink()
                raise ExportMismatch(f"output shape {got_logit.shape} != torch {ref_logit.shape} at batch {len(batch)}")
            diffs = np.maximum(diffs, [np.abs(got_logit - ref_logit).max(), np.abs(got_prob - ref_prob).max()])
    model.train(was_training)
    if not (diffs <= atol).all():
        tmp.unlink()
        raise ExportMismatch(f"onnxruntime differs from torch: max |logit| {diffs[0]:.3g}, |prob| {diffs[1]:.3g}")
    tmp.replace(path)
    return ExportReport(
        path=path,
        sha256=_sha256(path),
        size_bytes=path.stat().st_size,
        opset=OPSET,
        max_abs_diff_logit=float(diffs[0]),
        max_abs_diff_probability=float(diffs[1]),
        metadata=metadata,
    )


def read_metadata(path: str | Path) -> dict[str, str]:
    """metadata_props of an exported model, via onnxruntime only (what the service does)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)
