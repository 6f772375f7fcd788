"""The 3D body as 2D convolutions over stacked depth: the same function, in the kernels onnxruntime runs fast.

onnxruntime's CPU Conv3d is a generic im2col + GEMM, while its Conv2d has MLAS's blocked (NCHWc) kernels; at 2
threads and batch 64 it ran fast3d at about half of torch's speed (docs/performance.md). A Conv3d over a
shallow depth (6 feature sets, then 3) is one Conv2d whose channels are (channel, depth) pairs: output
(o, d') sums input (c, d) with kernel slice d - (d' * stride - pad) where that lies inside the kernel, and zero
elsewhere. The zero blocks cost multiplications (at most depth / kernel depth times the Conv3d's, 2x for
fast3d's first two layers), but the blocked kernels more than make up for it. BatchNorm is folded into the
weights, as onnxruntime does for Conv3d; `(B, C, D, H, W)` and `(B, C*D, H, W)` are the same memory, so the
head's reductions and flattening need no transpose, and the front end's (set, filter) order is absorbed into
the first layer's input channels.

`fold_depth(net)` returns None for a net it cannot express this way (2D body, GroupNorm, pooling between body
layers); the exporter then exports the net as it is. It is exported only with a parity check against the
unfolded net (`training.export.export_onnx`).
"""

from __future__ import annotations

import torch
from torch import nn

from training.nets import PlacementNet


def _folded_conv(conv: nn.Conv3d, norm: nn.Module, depth: int) -> tuple[nn.Conv2d, int]:
    """Conv3d (+ BatchNorm3d) over `depth` input slices -> an equivalent Conv2d on (C*D) channels, and D out."""
    kd, kh, kw = (int(k) for k in conv.kernel_size)
    sd, sh, sw = (int(k) for k in conv.stride)
    if isinstance(conv.padding, str):
        raise ValueError("string padding is not folded")
    pd, ph, pw = (int(k) for k in conv.padding)
    out_depth = (depth + 2 * pd - kd) // sd + 1
    w = conv.weight.detach()  # (O, C, kd, kh, kw)
    b = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
    if isinstance(norm, nn.BatchNorm3d):
        mean, var = norm.running_mean, norm.running_var
        if mean is None or var is None:
            raise ValueError("BatchNorm without running statistics is not folded")
        scale = norm.weight.detach() / torch.sqrt(var + norm.eps)
        w = w * scale[:, None, None, None, None]
        b = (b - mean) * scale + norm.bias.detach()
    o, c = w.shape[:2]
    w2 = torch.zeros(o, out_depth, c, depth, kh, kw, dtype=w.dtype)  # (O, D', C, D, kh, kw)
    for d_out in range(out_depth):
        for k in range(kd):
            d_in = d_out * sd - pd + k
            if 0 <= d_in < depth:
                w2[:, d_out, :, d_in] = w[:, :, k]
    conv2 = nn.Conv2d(c * depth, o * out_depth, (kh, kw), (sh, sw), (ph, pw))
    with torch.no_grad():
        conv2.weight.copy_(w2.reshape(o * out_depth, c * depth, kh, kw))
        conv2.bias.copy_(b[:, None].expand(o, out_depth).reshape(-1))  # type: ignore[union-attr]
    return conv2, out_depth


class DepthFolded(nn.Module):
    """`PlacementNet` with its 3D body as Conv2d layers; (B, C, 64, 64) -> logit (B,), equal within float error."""

    def __init__(self, net: PlacementNet, body: nn.Sequential, out_map: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.front = net.front
        self.body = body
        self.classifier = net.classifier
        self.head = net.config.head
        self.out_map = out_map  # (C', D', H', W')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(self.front(x))  # (B, C'*D', H', W')
        c, d, h, w = self.out_map
        if self.head == "gap":
            flat = x.reshape(x.shape[0], c, d * h * w)
            x = torch.cat([flat.mean(dim=2), flat.amax(dim=2)], dim=1)  # (B, 2C')
        else:
            x = x.flatten(1)  # (B, C'*D'*H'*W'), the order of the 3D net's flatten
        logit: torch.Tensor = self.classifier(x)
        return logit.squeeze(1)


def fold_depth(net: PlacementNet) -> DepthFolded | None:
    """The depth-folded equivalent of an eval-mode `net`, or None when its body is not foldable."""
    c = net.config
    if c.body != "3d" or c.norm not in ("batch", "none"):
        return None
    layers = list(net.body)
    convs = [m for m in layers if isinstance(m, nn.Conv3d)]
    if any(not isinstance(m, nn.Conv3d | nn.BatchNorm3d | nn.Identity | nn.ReLU) for m in layers):
        return None  # a pooling layer between convolutions
    depth = net.sets if c.front_channels else 1
    channels = c.front_channels if c.front_channels else 1
    if not c.front_channels:
        return None  # nofeat 3d: input depth = channels; not worth a second path
    body: list[nn.Module] = []
    i = 0
    for conv in convs:
        i = layers.index(conv, i)
        norm = layers[i + 1]
        try:
            conv2, depth_out = _folded_conv(conv, norm, depth)
        except ValueError:
            return None
        body += [conv2, nn.ReLU()]
        depth, channels = depth_out, conv.out_channels
    # The front end emits (set, filter) channels; the folded body wants (filter, set): permute the first layer's
    # input channels instead of transposing the activations.
    first = body[0]
    if not isinstance(first, nn.Conv2d):
        return None
    f, s = c.front_channels, net.sets
    order = torch.arange(s * f).reshape(s, f).T.reshape(-1)  # folded channel (f, s) <- front channel s * F + f
    with torch.no_grad():
        w = first.weight.detach().clone()
        first.weight.zero_()
        first.weight[:, order] = w
    _, _, h, w_ = net.out_map  # type: ignore[misc]
    return DepthFolded(net, nn.Sequential(*body), (channels, depth, h, w_)).eval()
