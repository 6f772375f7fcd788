"""The placement-quality CNNs of Liu et al. (DATE 2020, Sec. III-D, Fig. 5) and a CPU-serving variant.

One configurable module covers the paper's four models (Table III) and ours:

- ``feat*`` eat the rasterizer's (B, 18, 64, 64) tensor: 6 feature sets (first stage, other stages, feedback,
  CMFB, bias, routing demand), each an image plus its two CoordConv channels at channels 3k..3k+2. Fig. 5(a): a
  *separate* 2D stack per set (own weights per set). We run the six stacks as one grouped convolution
  (``groups=6``), which is the same function as six convolutions but one kernel launch.
- ``*3d`` stack the per-set outputs into a volume (B, C, D=6, H, W) so that 3D kernels see neighbouring sets
  together (Fig. 5(b)); ``*2d`` fold the sets into channels (B, 6*C, H, W) and use 2D kernels instead
  (the paper's "replacing all the convolution filters with 2D").
- ``nofeat*`` eat the compact (B, 2, 64, 64) raster; nofeat3d treats the two images as a depth-2 volume.

Widths follow UT-AnLay's ``cnn/cnn.py`` (separate 5x5 2D stack, 3D body of 64/32/32 filters, max-pooling,
dense 128-16) scaled so that the paper-sized model trains on a CPU: 32 filters per set instead of 128, one 2x2
pool after the front end and 3x3x3 body kernels instead of 3x5x5 (the original convolves 6x64x64 volumes at
full resolution, ~15 GMAC per layout; ours is ~0.3 GMAC). ``fast3d`` is designed for
onnxruntime on 2 cores: stride-2 convolutions from the first layer, 8-32 channels, global avg+max pooling.

Normalization is GroupNorm in the paper-sized presets: it does not depend on batch statistics, so fine-tuning on
16 few-shot layouts (paper Sec. IV-D) neither collapses nor drifts the way BatchNorm's running averages do.
fast3d uses BatchNorm because the exporter folds it into the convolutions (GroupNorm costs ~45% of its ORT
throughput, measured in docs/models.md); `training.fit` keeps BatchNorm statistics frozen when fine-tuning.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from placeq.architectures import ARCHITECTURES as ARCHITECTURE_NAMES
from placeq.artifact import InputKind
from placeq.errors import InputError

IMAGE_SIZE = 64
FEATURE_SETS = 6  # paper Sec. III-B: five subcircuits + routing demand
CHANNELS_PER_SET = 3  # image, coord_x, coord_y (Algorithm 1)
INPUT_CHANNELS: dict[str, int] = {"feat": FEATURE_SETS * CHANNELS_PER_SET, "nofeat": 2}


class NetConfig(BaseModel):
    """Everything needed to rebuild a network; stored in checkpoints and in the ONNX metadata."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    arch: str = Field(description="Registry name (feat3d, fast3d, ...).")
    input_kind: InputKind = Field(description="feat: (B,18,64,64) feature sets; nofeat: (B,2,64,64).")
    front_channels: int = Field(default=0, ge=0, description="Filters per feature set of the separate 2D stack.")
    front_kernel: int = Field(default=5, ge=1, description="Kernel size of the separate 2D stack.")
    front_stride: int = Field(default=1, ge=1, description="Stride of the separate 2D stack.")
    front_pool: int = Field(default=1, ge=1, description="Max-pool factor after the separate 2D stack.")
    body: Literal["2d", "3d"] = Field(description="3d: feature sets as depth; 2d: sets folded into channels.")
    body_channels: tuple[int, ...] = Field(description="Filters of each body convolution.")
    body_kernel: int = Field(default=5, ge=1, description="Spatial kernel of the body convolutions (odd).")
    body_depth_kernel: int = Field(default=3, ge=1, description="Depth kernel of 3D body convolutions (odd).")
    body_down: tuple[int, ...] = Field(description="Spatial downsampling factor after/at each body layer.")
    body_depth_down: tuple[int, ...] = Field(default=(), description="Depth downsampling per 3D layer (1 = none).")
    downsample: Literal["pool", "stride"] = Field(
        default="pool", description="pool: conv then max-pool (paper); stride: strided conv (cheaper on CPU)."
    )
    head: Literal["flatten", "gap"] = Field(
        default="flatten", description="flatten the last map (paper) or global avg+max pooling (size-free, cheap)."
    )
    dense: tuple[int, ...] = Field(default=(128, 16), description="Hidden dense layers before the logit.")
    norm: Literal["group", "batch", "none"] = Field(default="group", description="Normalization after each conv.")
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0, description="Dropout before each dense layer.")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one layout."""
        return (INPUT_CHANNELS[self.input_kind], IMAGE_SIZE, IMAGE_SIZE)


def _norm(kind: str, channels: int, dims: int, groups: int | None = None) -> nn.Module:
    if kind == "none":
        return nn.Identity()
    if kind == "batch":
        return nn.BatchNorm3d(channels) if dims == 3 else nn.BatchNorm2d(channels)
    return nn.GroupNorm(groups or math.gcd(channels, 8), channels)


class PlacementNet(nn.Module):
    """Feature tensor (B, C, 64, 64) -> one logit per layout (B,); positive = "prune" (worst quartile)."""

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        depth_down = c.body_depth_down or (1,) * len(c.body_channels)
        if len(c.body_down) != len(c.body_channels) or len(depth_down) != len(c.body_channels):
            raise InputError("body_down", "need one downsampling factor per body layer")
        in_ch = INPUT_CHANNELS[c.input_kind]
        size = IMAGE_SIZE

        # Fig. 5(a): separate 2D stack per feature set as one grouped conv. (B, 18, 64, 64) -> (B, 6*F, H', W')
        self.front: nn.Module = nn.Identity()
        self.sets = FEATURE_SETS if c.input_kind == "feat" else 1
        if c.front_channels:
            if c.input_kind != "feat":
                raise InputError("front_channels", "the separate 2D stack needs the feature sets (input_kind feat)")
            width = self.sets * c.front_channels
            layers: list[nn.Module] = [
                nn.Conv2d(in_ch, width, c.front_kernel, c.front_stride, c.front_kernel // 2, groups=self.sets),
                _norm(c.norm, width, 2, groups=self.sets),  # one group per set keeps the sets separate
                nn.ReLU(inplace=True),
            ]
            size = (size + 2 * (c.front_kernel // 2) - c.front_kernel) // c.front_stride + 1
            if c.front_pool > 1:
                layers.append(nn.MaxPool2d(c.front_pool))
                size //= c.front_pool
            self.front = nn.Sequential(*layers)
            in_ch = c.front_channels

        # Body. 3d: channels = per-set filters, depth = sets (feat) or the 2 images (nofeat).
        # 2d: channels = all sets' filters (or the raw input channels for nofeat).
        if c.body == "3d":
            depth = self.sets if c.front_channels else INPUT_CHANNELS[c.input_kind]
            ch = in_ch if c.front_channels else 1
        else:
            depth = 1
            ch = in_ch * self.sets if c.front_channels else in_ch
        body: list[nn.Module] = []
        for out, down, ddown in zip(c.body_channels, c.body_down, depth_down, strict=True):
            stride_here = c.downsample == "stride"
            if c.body == "3d":
                k = (c.body_depth_kernel, c.body_kernel, c.body_kernel)
                stride = (ddown, down, down) if stride_here else 1
                body += [nn.Conv3d(ch, out, k, stride, (k[0] // 2, k[1] // 2, k[2] // 2)), _norm(c.norm, out, 3)]
                body.append(nn.ReLU(inplace=True))
                if not stride_here and (down > 1 or ddown > 1):
                    body.append(nn.MaxPool3d((ddown, down, down)))
                depth = _down(depth, ddown, c.body_depth_kernel, stride_here)
            else:
                stride2 = down if stride_here else 1
                body += [nn.Conv2d(ch, out, c.body_kernel, stride2, c.body_kernel // 2), _norm(c.norm, out, 2)]
                body.append(nn.ReLU(inplace=True))
                if not stride_here and down > 1:
                    body.append(nn.MaxPool2d(down))
            size = _down(size, down, c.body_kernel, stride_here)
            ch = out
        self.body = nn.Sequential(*body)

        flat = 2 * ch if c.head == "gap" else ch * depth * size * size
        dense: list[nn.Module] = []
        for hidden in c.dense:
            dense += [nn.Dropout(c.dropout), nn.Linear(flat, hidden), nn.ReLU(inplace=True)]
            flat = hidden
        dense += [nn.Dropout(c.dropout), nn.Linear(flat, 1)]
        self.classifier = nn.Sequential(*dense)
        self.out_map = (ch, depth, size, size) if c.body == "3d" else (ch, size, size)

    def stack(self, x: torch.Tensor) -> torch.Tensor:
        """What the body convolves: (B, F, D, H', W') for 3d, (B, 6*F or C, H', W') for 2d."""
        c = self.config
        batch = x.shape[0]
        x = self.front(x)  # (B, 6*F, H', W') for feat with a front end, else the input
        if c.body == "3d":
            if c.front_channels:
                # (B, 6*F, H, W) -> (B, 6, F, H, W) -> (B, F, D=6, H, W): sets become the depth axis
                return x.reshape(batch, self.sets, c.front_channels, x.shape[-2], x.shape[-1]).transpose(1, 2)
            return x.unsqueeze(1)  # (B, 1, D=C, H, W)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        x = self.body(self.stack(x))  # (B, C', D', H', W') or (B, C', H', W')
        if c.head == "gap":
            dims = tuple(range(2, x.dim()))
            x = torch.cat([x.mean(dim=dims), x.amax(dim=dims)], dim=1)  # (B, 2C')
        else:
            x = x.flatten(1)  # (B, C'*D'*H'*W')
        logit: torch.Tensor = self.classifier(x)  # (B, 1)
        return logit.squeeze(1)  # (B,)


def _down(n: int, factor: int, kernel: int, strided: bool) -> int:
    """Output length along one axis after a body layer (same-padded conv, then stride or floor max-pool)."""
    if factor <= 1:
        return n
    return (n + 2 * (kernel // 2) - kernel) // factor + 1 if strided else n // factor


# The presets. Comments give the activation shapes for one layout.
PRESETS: dict[str, dict[str, Any]] = {
    # (2,64,64) -> 32x(32,32) -> 32x(16,16) -> 32x(8,8) -> 32x(4,4) -> 512 -> 128 -> 16 -> 1
    "nofeat2d": {"input_kind": "nofeat", "body": "2d", "body_channels": (32, 32, 32, 32), "body_down": (2, 2, 2, 2)},
    # (1,D=2,64,64) -> 32x(2,32,32) -> ... -> 32x(2,4,4) -> 1024 -> 128 -> 16 -> 1
    "nofeat3d": {"input_kind": "nofeat", "body": "3d", "body_channels": (32, 32, 32, 32), "body_down": (2, 2, 2, 2)},
    # (18,64,64) -> sep. 2D 5x5: 6x32x(32,32) = 192 channels -> 64x(16,16) -> 32x(8,8) -> 32x(4,4)
    # -> 512 -> 128 -> 16 -> 1.  ~180 MMAC per layout.
    "feat2d": {
        "input_kind": "feat",
        "front_channels": 32,
        "front_pool": 2,
        "body": "2d",
        "body_channels": (64, 32, 32),
        "body_kernel": 3,
        "body_down": (2, 2, 2),
    },
    # (18,64,64) -> sep. 2D 5x5: 6x32x(32,32) -> stack 32x(D=6,32,32) -> 32x(6,16,16) -> 32x(6,8,8) -> 32x(6,4,4)
    # -> 3072 -> 128 -> 16 -> 1.  3x3x3 body kernels: ~280 MMAC per layout.
    "feat3d": {
        "input_kind": "feat",
        "front_channels": 32,
        "front_pool": 2,
        "body": "3d",
        "body_channels": (32, 32, 32),
        "body_kernel": 3,
        "body_down": (2, 2, 2),
    },
    # (18,64,64) -> sep. 2D stride 2: 6x8x(32,32) -> stack 8x(D=6,32,32) -> 16x(6,16,16) -> 32x(3,8,8)
    # -> 32x(3,8,8) -> avg+max 64 -> 32 -> 1.  3x3x3 kernels, strided convs: ~14 MMAC per layout.
    "fast3d": {
        "input_kind": "feat",
        "front_channels": 8,
        "front_kernel": 3,
        "front_stride": 2,
        "body": "3d",
        "body_channels": (16, 32, 32),
        "body_kernel": 3,
        "body_down": (2, 2, 1),
        "body_depth_down": (1, 2, 1),
        "downsample": "stride",
        "head": "gap",
        "dense": (32,),
        "norm": "batch",  # folded into the convs at export; GroupNorm would halve ORT throughput
    },
}
# fast3d with the paper's flattening head (keeps where on the die a feature sits: 32x(3,8,8) = 6144 -> 32) and
# dropout 0.3 before the dense layers: the candidate to close fast3d's gap to feat3d (docs/models.md, Table III).
PRESETS["fast3d_flat"] = {**PRESETS["fast3d"], "head": "flatten", "dropout": 0.3}
if tuple(PRESETS) != ARCHITECTURE_NAMES:  # one name list: placeq.architectures, which the CLI offers
    raise RuntimeError(f"training.nets presets {tuple(PRESETS)} differ from placeq.architectures")


def build(arch: str, **overrides: Any) -> PlacementNet:
    """The preset `arch` with any NetConfig field overridden (e.g. ``norm="batch"``, ``head="flatten"``)."""
    if arch not in PRESETS:
        raise InputError("arch", f"unknown architecture {arch!r}; known: {', '.join(PRESETS)}")
    return PlacementNet(NetConfig(arch=arch, **{**PRESETS[arch], **overrides}))


def from_config(config: NetConfig | dict[str, Any]) -> PlacementNet:
    """Rebuild a network from its stored config (checkpoint or ONNX metadata)."""
    return PlacementNet(config if isinstance(config, NetConfig) else NetConfig.model_validate(config))


def _preset(arch: str) -> Callable[..., PlacementNet]:
    def make(**overrides: Any) -> PlacementNet:
        return build(arch, **overrides)

    make.__name__ = arch
    make.__doc__ = f"The {arch} preset; keyword arguments override NetConfig fields."
    return make


ARCHITECTURES: dict[str, Callable[..., PlacementNet]] = {name: _preset(name) for name in PRESETS}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def front_parameters(model: PlacementNet) -> list[nn.Parameter]:
    """Parameters of the separate 2D stack (what fine-tuning may freeze, paper Sec. III-E)."""
    return list(model.front.parameters())
