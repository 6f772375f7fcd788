"""Boundary penalty f_BND (paper eq. 1): keep devices inside an outline set by aspect ratio and white space.

The outline (W, H) is centred on the origin, W*H = device area * (1 + white space), H/W = aspect ratio; the
design space keeps it fixed (paper Sec. III-A). Each side's violation is smoothed by softplus and squared, as
IdeaPlaceEx's alpha*log(1 + exp(v/alpha)) per side.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class OutlinePenalty(nn.Module):
    """f_BND = sum_i sum_side softplus_g(violation)^2 (um^2), shape (B,)."""

    half_w: torch.Tensor
    half_h: torch.Tensor

    def __init__(self, size: np.ndarray, outline: tuple[float, float], dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        # A device centre may range over |c| <= (outline - size)/2 (clamped at 0 for a device wider than it).
        self.register_buffer("half_w", torch.as_tensor(np.maximum(outline[0] - size[:, 0], 0) / 2, dtype=dtype))
        self.register_buffer("half_h", torch.as_tensor(np.maximum(outline[1] - size[:, 1], 0) / 2, dtype=dtype))

    def forward(self, cx: torch.Tensor, cy: torch.Tensor, gamma: float) -> torch.Tensor:
        """cx, cy (B, N) -> (B,)."""
        v = torch.cat([cx - self.half_w, -cx - self.half_w, cy - self.half_h, -cy - self.half_h], dim=1)
        return (gamma * F.softplus(v / gamma)).square().sum(1)
