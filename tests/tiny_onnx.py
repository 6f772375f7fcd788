"""Tiny placeq-shaped ONNX models built with onnx.helper (no torch): fast artifacts for store and service tests.

`tiny_model()` is input "features" float32 (B, C, 64, 64) -> mean over (C, H, W) -> + bias -> sigmoid ->
"probability" (B, 1), so a layout's score is sigmoid(mean pixel + bias): easy to predict in a test. Different
`bias` values give different bytes (different sha256). Variants break one rule each, for the rejection tests.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

OPSET = 18


def tiny_model(
    channels: int = 18,
    *,
    bias: float = 0.0,
    metadata: dict[str, str | None] | None = None,
    batch: int | str = "B",
    output_shape: tuple[int | str, ...] = ("B", 1),
    input_type: int = TensorProto.FLOAT,
    poison: bool = False,
    size: int = 64,
) -> bytes:
    """Serialized ModelProto. `poison=True` makes the output NaN (log of a negative number); a `metadata` value
    of None leaves that default key out."""
    x = helper.make_tensor_value_info("features", input_type, [batch, channels, size, size])
    y = helper.make_tensor_value_info("probability", TensorProto.FLOAT, list(output_shape))
    inits = [
        helper.make_tensor("axes_chw", TensorProto.INT64, [3], [1, 2, 3]),
        helper.make_tensor("bias", TensorProto.FLOAT, [], [bias]),
    ]
    nodes = []
    src = "features"
    if input_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", ["features"], ["x"], to=TensorProto.FLOAT))
        src = "x"
    nodes += [
        helper.make_node("ReduceMean", [src, "axes_chw"], ["mean"], keepdims=0),  # (B,)
        helper.make_node("Add", ["mean", "bias"], ["shifted"]),
    ]
    if poison:
        inits.append(helper.make_tensor("minus_two", TensorProto.FLOAT, [], [-2.0]))
        nodes += [helper.make_node("Add", ["shifted", "minus_two"], ["neg"]), helper.make_node("Log", ["neg"], ["z"])]
    else:
        nodes.append(helper.make_node("Identity", ["shifted"], ["z"]))
    nodes.append(helper.make_node("Sigmoid", ["z"], ["p"]))  # (B,)
    if tuple(output_shape) == ("B",):
        nodes.append(helper.make_node("Identity", ["p"], ["probability"]))
    else:
        inits.append(helper.make_tensor("shape_out", TensorProto.INT64, [2], [0, -1 if output_shape[1] != 1 else 1]))
        if output_shape[1] == 1:
            nodes.append(helper.make_node("Reshape", ["p", "shape_out"], ["probability"]))  # (B, 1)
        else:  # (B, k): tile the score k times, a shape the store must refuse
            k = int(output_shape[1])
            inits.append(helper.make_tensor("axes_1", TensorProto.INT64, [1], [1]))
            inits.append(helper.make_tensor("reps", TensorProto.INT64, [2], [1, k]))
            nodes += [
                helper.make_node("Unsqueeze", ["p", "axes_1"], ["p1"]),
                helper.make_node("Tile", ["p1", "reps"], ["probability"]),
            ]
    graph = helper.make_graph(nodes, "tiny_placeq", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tests")
    model.ir_version = 8
    kind = "feat" if channels == 18 else "nofeat"
    meta: dict[str, str | None] = {"architecture": "tiny", "input_kind": kind, "threshold": "0.5"}
    meta.update(metadata or {})
    for key, value in meta.items():
        if value is not None:  # None drops a default key
            model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
