"""Pair-wise smoothed overlap with a minimum spacing, O(N^2) per placement (N <= ~64 for an OTA).

IdeaPlaceEx penalizes the product of smoothed x and y overlaps; we do the same with softplus as the smooth
max(0, .): ov = g*log(1 + exp(((w_i + w_j)/2 + s - |dx|)/g)), likewise in y, cost = sum_{i<j} ov_x * ov_y.
The product vanishes as soon as either gap opens, so devices may slide past each other in one direction.
It is the hot loop of the placer (B x N(N-1)/2 pairs), so forward and gradient are written out by hand in one
autograd Function: autograd's saved intermediates cost ~2x the time on 2 cores.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _axis(d: torch.Tensor, reach: torch.Tensor, gamma: float, eps: float
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, Q) centre differences -> smoothed overlap and its derivative w.r.t. d."""
    ad = torch.sqrt(d * d + eps)
    z = (reach - ad) / gamma
    ov = gamma * F.softplus(z)
    dov = torch.sigmoid(z).mul_(d).div_(ad).neg_()
    return ov, dov


class _OverlapFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, cx: torch.Tensor, cy: torch.Tensor, first: torch.Tensor, second: torch.Tensor,
                reach_x: torch.Tensor, reach_y: torch.Tensor, gamma: float) -> torch.Tensor:
        eps = (0.01 * gamma) ** 2  # smooths |d| at 0 so coincident devices still get pushed apart
        ox, dox = _axis(cx[:, first] - cx[:, second], reach_x, gamma, eps)  # (B, Q)
        oy, doy = _axis(cy[:, first] - cy[:, second], reach_y, gamma, eps)
        ctx.save_for_backward(first, second, ox, oy, dox, doy)
        ctx.n = cx.shape[1]
        return (ox * oy).sum(1)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        first, second, ox, oy, dox, doy = ctx.saved_tensors
        g = grad[:, None]
        gx = dox.mul_(oy).mul_(g)  # (B, Q) d cost / d (cx_i - cx_j)
        gy = doy.mul_(ox).mul_(g)
        shape = (grad.shape[0], ctx.n)
        out_x = torch.zeros(shape, dtype=gx.dtype, device=gx.device)
        out_y = torch.zeros(shape, dtype=gy.dtype, device=gy.device)
        out_x.index_add_(1, first, gx).index_add_(1, second, gx, alpha=-1)
        out_y.index_add_(1, first, gy).index_add_(1, second, gy, alpha=-1)
        return out_x, out_y, None, None, None, None, None


class PairOverlap(nn.Module):
    """f_OV = sum over device pairs i<j of softplus-overlap_x * softplus-overlap_y (um^2), shape (B,)."""

    first: torch.Tensor
    second: torch.Tensor
    reach_x: torch.Tensor
    reach_y: torch.Tensor

    def __init__(self, size: np.ndarray, spacing: float, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        i, j = np.triu_indices(len(size), k=1)
        self.register_buffer("first", torch.as_tensor(i))  # (Q,)
        self.register_buffer("second", torch.as_tensor(j))  # (Q,)
        reach = (size[i] + size[j]) / 2 + spacing  # (Q, 2) centre distance below which the pair is too close
        self.register_buffer("reach_x", torch.as_tensor(reach[:, 0], dtype=dtype))
        self.register_buffer("reach_y", torch.as_tensor(reach[:, 1], dtype=dtype))

    def forward(self, cx: torch.Tensor, cy: torch.Tensor, gamma: float) -> torch.Tensor:
        """cx, cy (B, N) -> (B,)."""
        out: torch.Tensor = _OverlapFn.apply(cx, cy, self.first, self.second, self.reach_x, self.reach_y, gamma)
        return out
