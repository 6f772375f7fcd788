"""The paper's four CNNs and fast3d: shapes, the separate per-set 2D stack, stored configs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from placeq.errors import InputError
from training.nets import ARCHITECTURES, NetConfig, build, count_parameters, from_config


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_gives_one_logit_per_layout(arch: str) -> None:
    model = ARCHITECTURES[arch]().eval()
    assert isinstance(model.config, NetConfig) and model.config.arch == arch
    x = torch.rand(3, *model.config.input_shape)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (3,)
    assert torch.isfinite(out).all()


def test_input_kinds_match_the_rasterizer_layouts() -> None:
    assert ARCHITECTURES["feat3d"]().config.input_shape == (18, 64, 64)
    assert ARCHITECTURES["fast3d"]().config.input_shape == (18, 64, 64)
    assert ARCHITECTURES["nofeat3d"]().config.input_shape == (2, 64, 64)


def test_separate_front_end_equals_one_conv_per_feature_set() -> None:
    """Fig. 5(a): each set (image, coord_x, coord_y) has its own 2D filters; the grouped conv must equal six
    independent convolutions, and set k must land at depth k of the 3D volume."""
    torch.manual_seed(0)
    model = build("feat3d", front_channels=4, norm="none", front_pool=1).eval()
    front = model.front
    assert isinstance(front, nn.Sequential)
    conv = front[0]
    assert isinstance(conv, nn.Conv2d) and conv.bias is not None
    x = torch.rand(2, 18, 64, 64)
    with torch.no_grad():
        volume = model.stack(x)  # (B, F=4, D=6, 64, 64)
        assert volume.shape == (2, 4, 6, 64, 64)
        for k in range(6):
            w = conv.weight[4 * k : 4 * k + 4]  # (4, 3, 5, 5): set k's own filters
            b = conv.bias[4 * k : 4 * k + 4]
            ref = torch.relu(nn.functional.conv2d(x[:, 3 * k : 3 * k + 3], w, b, padding=2))
            torch.testing.assert_close(volume[:, :, k], ref)


def test_changing_one_feature_set_changes_only_its_depth_slice() -> None:
    model = build("fast3d").eval()
    x = torch.rand(1, 18, 64, 64)
    y = x.clone()
    y[:, 6:9] = torch.rand(1, 3, 64, 64)  # set 2 (feedback)
    with torch.no_grad():
        a, b = model.stack(x), model.stack(y)
    changed = (a - b).abs().amax(dim=(0, 1, 3, 4))  # (D,)
    assert changed[2] > 0
    assert torch.count_nonzero(changed) == 1


def test_2d_variant_folds_sets_into_channels() -> None:
    model = build("feat2d").eval()
    with torch.no_grad():
        v = model.stack(torch.rand(2, 18, 64, 64))
    assert v.shape == (2, 6 * 32, 32, 32)
    assert all(not isinstance(m, nn.Conv3d) for m in model.modules())
    assert any(isinstance(m, nn.Conv3d) for m in build("feat3d").modules())


def test_config_round_trips_to_an_identical_network() -> None:
    model = build("fast3d", head="flatten")
    twin = from_config(model.config.model_dump(mode="json"))
    assert twin.config == model.config
    assert count_parameters(twin) == count_parameters(model)


def test_fast3d_is_much_smaller_than_the_paper_sized_model() -> None:
    assert count_parameters(build("fast3d")) * 5 < count_parameters(build("feat3d"))


def test_unknown_architecture_and_bad_configs_name_the_field() -> None:
    with pytest.raises(InputError, match="arch"):
        build("resnet50")
    with pytest.raises(InputError, match="front_channels"):
        build("nofeat3d", front_channels=8)
    with pytest.raises(InputError, match="body_down"):
        build("feat3d", body_down=(2,))
