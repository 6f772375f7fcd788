"""Global placement: the objective is the weighted sum of the cost terms in `ops/`, the schedule lives apart.

    f = f_WL(weights) + a * f_BND + lambda_ov(t) * f_OV + lambda_sym(t) * f_SYM

f_WL + a*f_BND is the paper's eq. (1); overlap and symmetry are penalties whose weights grow geometrically over
the iterations while the smoothing gamma and the step shrink (DREAMPlace/IdeaPlaceEx practice: first let the
wirelength shape the topology, then spread). Every placement of a batch starts from the same seeded initial
positions, so the net weights are the only thing that differs between rows (paper: "change the net weighting").
f_WL is divided by each row's total weight over the base total, so raising weights changes which nets pull,
not how hard wirelength pulls against the penalties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from training.placer.config import PlacerConfig
from training.placer.ops.boundary import OutlinePenalty
from training.placer.ops.overlap import PairOverlap
from training.placer.ops.symmetry import MirrorAsymmetry
from training.placer.ops.wirelength import WeightedAverageWirelength
from training.placer.problem import PlacementProblem


@dataclass(frozen=True)
class Step:
    """Schedule values at one iteration."""

    lr: float
    gamma: float
    overlap: float
    symmetry: float


def schedule(config: PlacerConfig, side: float) -> list[Step]:
    """Geometric interpolation start -> end of every scheduled quantity; lengths scaled by the outline side."""
    t = np.linspace(0.0, 1.0, config.iterations)

    def geo(a: float, b: float) -> np.ndarray:
        return np.asarray(a * (b / a) ** t) if a > 0 and b > 0 else np.asarray(a + (b - a) * t)

    lr = geo(config.lr_start, config.lr_end) * side
    gamma = geo(config.gamma_start, config.gamma_end) * side
    ov = geo(config.overlap_start, config.overlap_end)
    sym = geo(config.symmetry_start, config.symmetry_end)
    return [Step(float(a), float(b), float(c), float(d)) for a, b, c, d in zip(lr, gamma, ov, sym, strict=True)]


class Objective(nn.Module):
    """The composed cost; returns (B,) totals so each row's gradient is its own placement's."""

    def __init__(self, problem: PlacementProblem, config: PlacerConfig, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        p = problem
        self.wirelength = WeightedAverageWirelength(p.pin_device, p.pin_net, p.pin_offset, p.wl_pin, len(p.nets), dtype,
                                                    fixed_net=p.io.net, fixed_xy=p.io_xy)
        self.overlap = PairOverlap(p.size, config.spacing_um, dtype)
        self.boundary = OutlinePenalty(p.size, p.outline, dtype)
        self.symmetry = MirrorAsymmetry(p.pairs, p.self_sym)
        self.boundary_weight = config.boundary_weight
        self.base_total = float(p.net_weight.sum())

    def forward(self, cx: torch.Tensor, cy: torch.Tensor, axis: torch.Tensor, weight: torch.Tensor,
                step: Step) -> torch.Tensor:
        """cx, cy (B, N), axis (B,), weight (B, M) -> (B,)."""
        scale = self.base_total / weight.sum(1).clamp_min(1e-9)  # (B,)
        total: torch.Tensor = (
            self.wirelength(cx, cy, weight, step.gamma) * scale
            + self.boundary_weight * self.boundary(cx, cy, step.gamma)
            + step.overlap * self.overlap(cx, cy, step.gamma)
            + step.symmetry * self.symmetry(cx, cy, axis)
        )
        return total


@dataclass(frozen=True)
class GlobalPlacement:
    """Device centres and symmetry axis per placement (um, outline centred on the origin)."""

    cx: np.ndarray  # (B, N)
    cy: np.ndarray  # (B, N)
    axis: np.ndarray  # (B,)


def initial_positions(problem: PlacementProblem, config: PlacerConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(N,) x and y centres drawn once per (design, seed): every placement of the space starts here."""
    rng = np.random.default_rng(seed)
    std = config.init_spread * problem.side
    return rng.normal(0.0, std, problem.n_devices), rng.normal(0.0, std, problem.n_devices)


def global_place(problem: PlacementProblem, weights: np.ndarray, config: PlacerConfig, *, seed: int = 0,
                 rows: np.ndarray | None = None) -> GlobalPlacement:
    """Optimize B placements at once, one per row of `weights` (B, M). `rows` (B,) are the placements' ids in
    the design space, used only to seed the optional per-placement jitter (so a row does not depend on its batch).
    """
    device = torch.device(config.device)
    dtype = torch.float32
    b = len(weights)
    x0, y0 = initial_positions(problem, config, seed)
    cx = np.broadcast_to(x0, (b, problem.n_devices)).copy()
    cy = np.broadcast_to(y0, (b, problem.n_devices)).copy()
    if config.init_jitter > 0:
        ids = np.arange(b) if rows is None else np.asarray(rows)
        for r, i in enumerate(ids):  # per-row generators: a row's start depends only on (seed, id)
            g = np.random.default_rng([seed, int(i)])
            cx[r] += g.normal(0.0, config.init_jitter * problem.side, problem.n_devices)
            cy[r] += g.normal(0.0, config.init_jitter * problem.side, problem.n_devices)
    objective = Objective(problem, config, dtype).to(device)
    px = torch.tensor(cx, dtype=dtype, device=device, requires_grad=True)  # (B, N)
    py = torch.tensor(cy, dtype=dtype, device=device, requires_grad=True)  # (B, N)
    axis = torch.zeros(b, dtype=dtype, device=device, requires_grad=True)  # (B,)
    w = torch.as_tensor(weights, dtype=dtype, device=device)  # (B, M)
    steps = schedule(config, problem.side)
    opt = torch.optim.Adam([px, py, axis], lr=steps[0].lr)
    for step in steps:
        for group in opt.param_groups:
            group["lr"] = step.lr
        opt.zero_grad(set_to_none=True)
        objective(px, py, axis, w, step).sum().backward()
        opt.step()
    return GlobalPlacement(
        cx=px.detach().cpu().double().numpy(),
        cy=py.detach().cpu().double().numpy(),
        axis=axis.detach().cpu().double().numpy(),
    )
