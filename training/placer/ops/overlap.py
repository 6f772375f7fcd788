"""Pair-wise smoothed overlap with a minimum spacing, O(N^2) per placement (N <= ~64 for an OTA).

IdeaPlaceEx penalizes the product of smoothed x and y overlaps; so do we: with o = (w_i + w_j)/2 + s - |dx|
the (spacing-inflated) x overlap of a pair, cost = sum_{i<j} h(o_x) * h(o_y), where h is a smooth hinge
(0 below 0, o^2/(2g) up to g, o - g/2 beyond: C1, the smoothing shrinks with the schedule's gamma). The product
vanishes as soon as either gap opens, so devices may slide past each other in one direction.

It is the hot loop of the placer (B x N(N-1)/2 pairs), so it avoids softplus (log1p(exp) costs ~4x a clamp
on CPU), advanced indexing (index_select is ~7x faster than `x[:, idx]`) and temporaries (in-place ops halved
its time), and writes the gradient by hand:
the pair -> device scatter of the backward pass is one matmul with the (Q, N) +1/-1 incidence matrix.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


class _OverlapFn(torch.autograd.Function):
    """Memory-bound on CPU, so every (B, Q) temporary that can be reused is: per axis one gather pair, one clamp,
    the rest in place. v = gamma * h(o) and t = gamma * h'(o); the 1/gamma factors are applied to (B,) sums."""

    @staticmethod
    def forward(ctx: Any, cx: torch.Tensor, cy: torch.Tensor, first: torch.Tensor, second: torch.Tensor,
                reach: torch.Tensor, incidence: torch.Tensor, gamma: float) -> torch.Tensor:
        parts = []
        for c, r in ((cx, reach[0]), (cy, reach[1])):
            d = c.index_select(1, first).sub_(c.index_select(1, second))  # (B, Q) centre offset of each pair
            sign = d.sign()
            o = d.abs_().neg_().add_(r)  # (B, Q) spacing-inflated overlap, in place
            t = o.clamp(0.0, gamma)  # gamma * h'(o)
            v = o.sub_(t, alpha=0.5).mul_(t)  # gamma * h(o), in place
            parts.append((v, t.mul_(sign)))
        (vx, sx), (vy, sy) = parts
        ctx.gamma = gamma
        ctx.save_for_backward(incidence, vx, vy, sx, sy)
        cost: torch.Tensor = torch.linalg.vecdot(vx, vy) / (gamma * gamma)  # (B,)
        return cost

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        incidence, vx, vy, sx, sy = ctx.saved_tensors
        g = grad[:, None] * (-1.0 / ctx.gamma**2)
        # d cost / d(dx) = -h'(o_x) sign(dx) h(o_y); dx = cx_i - cx_j scatters +/- through the incidence matrix.
        return (sx.mul_(vy).mul_(g) @ incidence, sy.mul_(vx).mul_(g) @ incidence, None, None, None, None, None)


class PairOverlap(nn.Module):
    """f_OV = sum over device pairs i<j of h(overlap_x) * h(overlap_y) (um^2), shape (B,)."""

    first: torch.Tensor
    second: torch.Tensor
    reach: torch.Tensor
    incidence: torch.Tensor

    def __init__(self, size: np.ndarray, spacing: float, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        i, j = np.triu_indices(len(size), k=1)
        self.register_buffer("first", torch.as_tensor(i))  # (Q,)
        self.register_buffer("second", torch.as_tensor(j))  # (Q,)
        reach = (size[i] + size[j]).T / 2 + spacing  # (2, Q) centre distance below which the pair is too close
        self.register_buffer("reach", torch.as_tensor(reach, dtype=dtype))
        inc = np.zeros((len(i), len(size)))
        inc[np.arange(len(i)), i] = 1.0
        inc[np.arange(len(i)), j] = -1.0
        self.register_buffer("incidence", torch.as_tensor(inc, dtype=dtype))  # (Q, N)

    def forward(self, cx: torch.Tensor, cy: torch.Tensor, gamma: float) -> torch.Tensor:
        """cx, cy (B, N) -> (B,)."""
        out: torch.Tensor = _OverlapFn.apply(  # type: ignore[no-untyped-call]
            cx, cy, self.first, self.second, self.reach, self.incidence, gamma
        )
        return out
