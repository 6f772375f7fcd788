"""ONNX export: parity with torch for every architecture, one self-contained file, metadata for the service."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from placeq.errors import InputError
from training.export import INPUT_NAME, OPSET, ExportMismatch, export_onnx, read_metadata
from training.nets import ARCHITECTURES, build, from_config
from training.synthetic import synthetic_task


@pytest.fixture(scope="module")
def layouts() -> dict[str, np.ndarray]:
    feat, _ = synthetic_task(6, seed=2)
    nofeat, _ = synthetic_task(6, seed=2, nofeat=True)
    return {"feat": feat, "nofeat": nofeat}


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_onnx_matches_torch_for_every_architecture(arch: str, layouts: dict[str, np.ndarray], tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = ARCHITECTURES[arch]()
    x = layouts[model.config.input_kind]
    report = export_onnx(model, tmp_path / "m.onnx", sample=x, threshold=0.37, design="ota1")
    assert report.max_abs_diff_logit <= 1e-4 and report.max_abs_diff_probability <= 1e-4
    # independent check with a fresh session on another batch size (dynamic batch axis)
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    batch = np.concatenate([x, x[:3]])  # 9 layouts
    logit, prob = session.run(None, {INPUT_NAME: batch})
    model.eval()
    with torch.no_grad():
        ref = model(torch.from_numpy(batch)).numpy()
    assert logit.shape == prob.shape == (9,)
    np.testing.assert_allclose(logit, ref, atol=1e-4)
    np.testing.assert_allclose(prob, 1 / (1 + np.exp(-ref)), atol=1e-4)


def test_export_is_one_file_with_metadata(layouts: dict[str, np.ndarray], tmp_path: Path) -> None:
    model = build("fast3d")
    report = export_onnx(model, tmp_path / "m.onnx", sample=layouts["feat"], threshold=0.42, design="ota2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no .data sidecar, no temp file
    proto = onnx.load(str(report.path), load_external_data=False)
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    assert {o.domain: o.version for o in proto.opset_import}[""] == OPSET
    meta = read_metadata(report.path)
    assert meta["architecture"] == "fast3d"
    assert meta["input_kind"] == "feat" and meta["input_shape"] == "18,64,64"
    assert float(meta["threshold"]) == 0.42
    assert meta["design"] == "ota2"
    assert meta["placeq_version"]
    assert from_config(json.loads(meta["net_config"])).config == model.config
    assert len(report.sha256) == 64


def test_export_rejects_a_sample_of_the_wrong_kind(layouts: dict[str, np.ndarray], tmp_path: Path) -> None:
    with pytest.raises(ExportMismatch, match="sample"):
        export_onnx(build("fast3d"), tmp_path / "m.onnx", sample=layouts["nofeat"])
    assert not (tmp_path / "m.onnx").exists()


def test_a_graph_that_disagrees_with_torch_is_refused(layouts: dict[str, np.ndarray], tmp_path: Path) -> None:
    """The tolerance is enforced: at atol 0 any float rounding difference is a mismatch, and nothing is written."""
    model = build("feat3d")
    with pytest.raises(ExportMismatch, match="differs"):
        export_onnx(model, tmp_path / "m.onnx", sample=layouts["feat"], atol=0.0)
    assert list(tmp_path.iterdir()) == []


def test_the_model_store_accepts_the_export(layouts: dict[str, np.ndarray], tmp_path: Path) -> None:
    """The artifact contract of model_store.validate (torch-free): signature, warm-up, metadata."""
    from model_store.validate import validate_artifact

    report = export_onnx(build("fast3d"), tmp_path / "m.onnx", sample=layouts["feat"], threshold=0.3, design="ota1")
    info = validate_artifact(report.path.read_bytes())
    assert info.input_kind == "feat" and info.threshold == 0.3 and info.arch == "fast3d"
    assert info.output_names == ("logit", "probability")


def test_a_threshold_outside_0_1_is_refused(layouts: dict[str, np.ndarray], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="threshold"):
        export_onnx(build("fast3d"), tmp_path / "m.onnx", sample=layouts["feat"], threshold=1.0)
