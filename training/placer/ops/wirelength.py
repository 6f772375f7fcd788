"""Weighted-average (WA) wirelength: a smooth HPWL per net, weighted per placement (the design-space lever).

WA (Hsu et al.; DREAMPlace's `weighted_average_wirelength`) estimates max_i x_i by sum x e^{x/g} / sum e^{x/g};
it under-estimates HPWL by less than log-sum-exp does at the same gamma. Pin position = device centre + pin offset;
fixed pins (the IO pins on the outline, `io_pins.py`) are appended as constant columns.
Sums over a net's pins are matrix products with the (P, M) incidence matrix: dense, and fast at P ~ 200.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class WeightedAverageWirelength(nn.Module):
    """f_WL = sum_m weight[b, m] * (WA_x + WA_y)[b, m]; nets need >= 2 counted pins (weight 0 otherwise)."""

    incidence: torch.Tensor
    pin_device: torch.Tensor
    pin_net: torch.Tensor
    pin_offset: torch.Tensor
    fixed_xy: torch.Tensor

    def __init__(self, pin_device: np.ndarray, pin_net: np.ndarray, pin_offset: np.ndarray, pin_mask: np.ndarray,
                 n_nets: int, dtype: torch.dtype = torch.float32, fixed_net: np.ndarray | None = None,
                 fixed_xy: np.ndarray | None = None) -> None:
        """Device pins (P,) with a mask of those counted; optional fixed pins: net (I,) and position (I, 2) um."""
        super().__init__()
        keep = np.flatnonzero(pin_mask)
        f_net = np.zeros(0, dtype=np.int64) if fixed_net is None else np.asarray(fixed_net, dtype=np.int64)
        f_xy = np.zeros((len(f_net), 2)) if fixed_xy is None else np.asarray(fixed_xy, dtype=np.float64)
        nets = np.concatenate([pin_net[keep], f_net])  # (P' + I,)
        inc = np.zeros((len(nets), n_nets))
        inc[np.arange(len(nets)), nets] = 1.0
        self.register_buffer("incidence", torch.as_tensor(inc, dtype=dtype))  # (P' + I, M)
        self.register_buffer("pin_device", torch.as_tensor(pin_device[keep]))  # (P',)
        self.register_buffer("pin_net", torch.as_tensor(nets))  # (P' + I,)
        self.register_buffer("pin_offset", torch.as_tensor(pin_offset[keep], dtype=dtype))  # (P', 2)
        self.register_buffer("fixed_xy", torch.as_tensor(f_xy.reshape(-1, 2), dtype=dtype))  # (I, 2)

    def pins(self, cx: torch.Tensor, cy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N) device centres -> (B, P' + I) pin centres, the fixed pins last."""
        px = cx.index_select(1, self.pin_device) + self.pin_offset[:, 0]
        py = cy.index_select(1, self.pin_device) + self.pin_offset[:, 1]
        if len(self.fixed_xy):
            b = cx.shape[0]
            px = torch.cat([px, self.fixed_xy[:, 0].expand(b, -1)], dim=1)
            py = torch.cat([py, self.fixed_xy[:, 1].expand(b, -1)], dim=1)
        return px, py

    def _wa_span(self, x: torch.Tensor, gamma: float) -> torch.Tensor:
        """(B, P') pin coordinates -> (B, M) smooth max - smooth min per net."""
        n_nets = self.incidence.shape[1]
        idx = self.pin_net.expand_as(x)
        with torch.no_grad():  # per-net shifts keep exp() in range; constants for autograd
            hi = torch.full((x.shape[0], n_nets), -torch.inf, dtype=x.dtype, device=x.device)
            hi = hi.scatter_reduce(1, idx, x, "amax").gather(1, idx)
            lo = torch.full((x.shape[0], n_nets), torch.inf, dtype=x.dtype, device=x.device)
            lo = lo.scatter_reduce(1, idx, x, "amin").gather(1, idx)
        ep = torch.exp((x - hi) / gamma)
        en = torch.exp((lo - x) / gamma)
        inc = self.incidence
        smax = (x * ep) @ inc / (ep @ inc).clamp_min(1e-30)
        smin = (x * en) @ inc / (en @ inc).clamp_min(1e-30)
        return smax - smin

    def forward(self, cx: torch.Tensor, cy: torch.Tensor, weight: torch.Tensor, gamma: float) -> torch.Tensor:
        """cx, cy (B, N), weight (B, M) -> (B,)."""
        px, py = self.pins(cx, cy)
        return ((self._wa_span(px, gamma) + self._wa_span(py, gamma)) * weight).sum(1)

    def hpwl(self, cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
        """Exact per-net HPWL of pin centres, (B, M) (nets without counted pins give 0)."""
        px, py = self.pins(cx, cy)
        n_nets = self.incidence.shape[1]
        out = torch.zeros((px.shape[0], n_nets), dtype=px.dtype, device=px.device)
        for p in (px, py):
            idx = self.pin_net.expand_as(p)
            hi = torch.full_like(out, -torch.inf).scatter_reduce(1, idx, p, "amax")
            lo = torch.full_like(out, torch.inf).scatter_reduce(1, idx, p, "amin")
            out = out + torch.where(torch.isfinite(hi), hi - lo, torch.zeros_like(hi))
        return out
