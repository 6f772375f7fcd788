"""Artifact validation (onnxruntime only): placeq-shaped models pass, each broken rule is named."""

from __future__ import annotations

import pytest
from onnx import TensorProto
from tiny_onnx import tiny_model

from model_store import ArtifactInvalid, validate_artifact


def test_feat_model_is_accepted_with_its_metadata() -> None:
    info = validate_artifact(tiny_model(18, metadata={"design": "ota1"}))
    assert info.input_kind == "feat"
    assert info.input_name == "features"
    assert info.output_names == ("probability",)
    assert info.threshold == 0.5
    assert info.arch == "tiny"
    assert info.metadata["design"] == "ota1"


def test_nofeat_model_with_flat_output_is_accepted() -> None:
    info = validate_artifact(tiny_model(2, output_shape=("B",)))
    assert info.input_kind == "nofeat"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"\x08\x07garbage that is not a protobuf" * 10, "onnxruntime cannot load it"),
        (tiny_model(batch=1), "fixed batch size 1"),
        (tiny_model(channels=3), r"shape \['B', 3, 64, 64\], expected \[B, 18\|2, 64, 64\]"),
        (tiny_model(size=32), r"expected \[B, 18\|2, 64, 64\]"),
        (tiny_model(input_type=TensorProto.FLOAT16), "tensor\\(float16\\), expected tensor\\(float\\)"),
        (tiny_model(output_shape=("B", 4)), r"shape \[1, 4\] at batch 1, expected \[B\] or \[B, 1\]"),
        (tiny_model(poison=True), "not finite"),
        (tiny_model(metadata={"input_kind": "nofeat"}), "input_kind='nofeat' but the input has 18 channels"),
        (tiny_model(metadata={"threshold": "1.5"}), "threshold=1.5 is not a probability"),
        (tiny_model(metadata={"threshold": "high"}), "threshold='high' is not a number"),
    ],
)
def test_broken_artifacts_are_rejected_naming_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(ArtifactInvalid, match=message) as exc:
        validate_artifact(data)
    assert exc.value.field == "artifact"
