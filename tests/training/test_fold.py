"""The depth-folded export (`training.fold`): 2D convolutions over stacked depth compute what the 3D body does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from training.export import export_onnx
from training.fold import fold_depth
from training.nets import PlacementNet, build
from training.synthetic import synthetic_task


def _trained_looking(arch: str) -> PlacementNet:
    """A net whose BatchNorm statistics are not the identity, so folding them in is tested too."""
    torch.manual_seed(0)
    net = build(arch)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm3d | torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)  # type: ignore[union-attr]
            m.running_var.uniform_(0.5, 2.0)  # type: ignore[union-attr]
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


@pytest.mark.parametrize("arch", ["fast3d", "fast3d_flat"])
def test_the_folded_net_scores_as_the_3d_net(arch: str) -> None:
    net = _trained_looking(arch)
    folded = fold_depth(net)
    assert folded is not None
    x = torch.from_numpy(synthetic_task(8, seed=3)[0])
    with torch.no_grad():
        np.testing.assert_allclose(folded(x).numpy(), net(x).numpy(), atol=1e-5)


def test_the_export_has_no_3d_convolution_and_matches_torch(tmp_path: Path) -> None:
    net = _trained_looking("fast3d")
    x = synthetic_task(6, seed=2)[0]
    report = export_onnx(net, tmp_path / "m.onnx", sample=x)
    assert report.max_abs_diff_logit <= 1e-4
    assert 5 not in _conv_weight_ranks(report.path) and report.metadata["body_graph"] == "conv2d over stacked depth"
    plain = export_onnx(net, tmp_path / "p.onnx", sample=x, fold=False)
    assert 5 in _conv_weight_ranks(plain.path) and plain.metadata["body_graph"] == "as built"


def _conv_weight_ranks(path: Path) -> set[int]:
    graph = onnx.load(str(path)).graph
    weights = {n.input[1] for n in graph.node if n.op_type == "Conv"}
    return {len(i.dims) for i in graph.initializer if i.name in weights}


def test_a_2d_body_is_not_folded() -> None:
    assert fold_depth(build("feat2d").eval()) is None
