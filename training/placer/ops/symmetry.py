"""Quadratic asymmetry about a per-placement vertical axis (IdeaPlaceEx's formulation).

Pair (p, q): (cy_p - cy_q)^2 + (cx_p + cx_q - 2a)^2; self-symmetric s: (cx_s - a)^2. The axis a is a variable
of each placement, so the group can sit anywhere; the legalizer then makes the symmetry exact.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class MirrorAsymmetry(nn.Module):
    """f_SYM (um^2), shape (B,)."""

    left: torch.Tensor
    right: torch.Tensor
    centred: torch.Tensor

    def __init__(self, pairs: np.ndarray, self_sym: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("left", torch.as_tensor(pairs[:, 0].copy()))  # (K,)
        self.register_buffer("right", torch.as_tensor(pairs[:, 1].copy()))  # (K,)
        self.register_buffer("centred", torch.as_tensor(self_sym))  # (S,)

    def forward(self, cx: torch.Tensor, cy: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
        """cx, cy (B, N), axis (B,) -> (B,)."""
        a = axis[:, None]
        left, right = self.left, self.right
        pair = (cy.index_select(1, left) - cy.index_select(1, right)).square() + (
            cx.index_select(1, left) + cx.index_select(1, right) - 2 * a
        ).square()
        centred = (cx.index_select(1, self.centred) - a).square()
        return pair.sum(1) + centred.sum(1)
