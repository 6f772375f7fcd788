"""Each cost term of global placement against a slow, loop-based numpy reference (values and gradients)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from training.placer.config import PlacerConfig
from training.placer.examples import two_stage_ota
from training.placer.ops.boundary import OutlinePenalty
from training.placer.ops.overlap import PairOverlap
from training.placer.ops.symmetry import MirrorAsymmetry
from training.placer.ops.wirelength import WeightedAverageWirelength
from training.placer.problem import PlacementProblem

B = 3


@pytest.fixture(scope="module")
def problem() -> PlacementProblem:
    return PlacementProblem.from_circuit(two_stage_ota(), PlacerConfig())


@pytest.fixture(scope="module")
def xy(problem: PlacementProblem) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.normal(0, 6, (B, problem.n_devices)), rng.normal(0, 6, (B, problem.n_devices))


def _softplus(z: float) -> float:
    return math.log1p(math.exp(z)) if z < 30 else z


def _wa_ref(p: PlacementProblem, cx: np.ndarray, cy: np.ndarray, weight: np.ndarray, gamma: float) -> float:
    total = 0.0
    for m in range(len(p.nets)):
        pins = [i for i in range(len(p.pin_net)) if p.pin_net[i] == m and p.wl_pin[i]]
        fixed = [i for i in range(len(p.io)) if p.io.net[i] == m]  # IO pins on the outline
        if not pins:
            continue
        for coord, axis in ((cx, 0), (cy, 1)):
            v = np.array([coord[p.pin_device[i]] + p.pin_offset[i, axis] for i in pins]
                         + [p.io_xy[i, axis] for i in fixed])
            hi = np.sum(v * np.exp((v - v.max()) / gamma)) / np.sum(np.exp((v - v.max()) / gamma))
            lo = np.sum(v * np.exp((v.min() - v) / gamma)) / np.sum(np.exp((v.min() - v) / gamma))
            total += weight[m] * (hi - lo)
    return total


def _hinge(o: float, gamma: float) -> float:
    if o <= 0:
        return 0.0
    return o * o / (2 * gamma) if o < gamma else o - gamma / 2


def _overlap_ref(size: np.ndarray, s: float, cx: np.ndarray, cy: np.ndarray, gamma: float) -> float:
    total, n = 0.0, len(size)
    for i in range(n):
        for j in range(i + 1, n):
            ox = _hinge((size[i, 0] + size[j, 0]) / 2 + s - abs(cx[i] - cx[j]), gamma)
            oy = _hinge((size[i, 1] + size[j, 1]) / 2 + s - abs(cy[i] - cy[j]), gamma)
            total += ox * oy
    return total


def _boundary_ref(size: np.ndarray, outline: tuple[float, float], cx: np.ndarray, cy: np.ndarray,
                  gamma: float) -> float:
    total = 0.0
    for i in range(len(size)):
        x0, x1 = cx[i] - size[i, 0] / 2, cx[i] + size[i, 0] / 2
        y0, y1 = cy[i] - size[i, 1] / 2, cy[i] + size[i, 1] / 2
        for v in (-outline[0] / 2 - x0, x1 - outline[0] / 2, -outline[1] / 2 - y0, y1 - outline[1] / 2):
            total += (gamma * _softplus(v / gamma)) ** 2
    return total


def _sym_ref(p: PlacementProblem, cx: np.ndarray, cy: np.ndarray, a: float) -> float:
    total = sum((cy[i] - cy[j]) ** 2 + (cx[i] + cx[j] - 2 * a) ** 2 for i, j in p.pairs)
    return float(total + sum((cx[s] - a) ** 2 for s in p.self_sym))


def _check_grad(op: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                ref: Callable[[int, np.ndarray, np.ndarray], float], xy: tuple[np.ndarray, np.ndarray]) -> None:
    """The op's autograd gradient equals central differences of the loop reference on a few coordinates."""
    x = torch.tensor(xy[0], requires_grad=True)
    y = torch.tensor(xy[1], requires_grad=True)
    op(x, y).sum().backward()  # type: ignore[no-untyped-call]
    assert x.grad is not None and y.grad is not None
    h = 1e-5
    for b, n in ((0, 0), (1, 3), (2, 7)):
        for grad, which in ((x.grad, 0), (y.grad, 1)):
            v = [xy[0][b].copy(), xy[1][b].copy()]
            v[which][n] += h
            up = ref(b, v[0], v[1])
            v[which][n] -= 2 * h
            down = ref(b, v[0], v[1])
            assert grad[b, n].item() == pytest.approx((up - down) / (2 * h), rel=1e-4, abs=1e-6)


def test_wirelength_matches_loop_reference(problem: PlacementProblem, xy: tuple[np.ndarray, np.ndarray]) -> None:
    p, gamma = problem, 0.7
    assert len(p.io) == 7  # the test OTA's ports, as fixed pins
    op = WeightedAverageWirelength(p.pin_device, p.pin_net, p.pin_offset, p.wl_pin, len(p.nets), torch.float64,
                                   fixed_net=p.io.net, fixed_xy=p.io_xy)
    weights = np.random.default_rng(2).uniform(0.5, 10, (B, len(p.nets))) * (p.net_weight > 0)
    cx, cy = (torch.tensor(v) for v in xy)
    got = op(cx, cy, torch.tensor(weights), gamma).numpy()
    for b in range(B):
        assert got[b] == pytest.approx(_wa_ref(p, xy[0][b], xy[1][b], weights[b], gamma), rel=1e-10)
    _check_grad(lambda x, y: op(x, y, torch.tensor(weights), gamma),
                lambda b, x, y: _wa_ref(p, x, y, weights[b], gamma), xy)


def test_wirelength_tends_to_hpwl_as_gamma_shrinks(problem: PlacementProblem,
                                                   xy: tuple[np.ndarray, np.ndarray]) -> None:
    p = problem
    op = WeightedAverageWirelength(p.pin_device, p.pin_net, p.pin_offset, p.wl_pin, len(p.nets), torch.float64,
                                   fixed_net=p.io.net, fixed_xy=p.io_xy)
    cx, cy = (torch.tensor(v) for v in xy)
    w = torch.tensor(np.broadcast_to(p.net_weight, (B, len(p.nets))).copy())
    exact = (op.hpwl(cx, cy) * w).sum(1)
    assert torch.allclose(op(cx, cy, w, 1e-3), exact, rtol=1e-3)
    assert (op(cx, cy, w, 2.0) < exact).all()  # WA under-estimates HPWL


def test_overlap_matches_loop_reference(problem: PlacementProblem, xy: tuple[np.ndarray, np.ndarray]) -> None:
    p, gamma, s = problem, 0.5, 0.2
    op = PairOverlap(p.size, s, torch.float64)
    cx, cy = (torch.tensor(v) for v in xy)
    got = op(cx, cy, gamma).numpy()
    for b in range(B):
        assert got[b] == pytest.approx(_overlap_ref(p.size, s, xy[0][b], xy[1][b], gamma), rel=1e-10)
    _check_grad(lambda x, y: op(x, y, gamma), lambda b, x, y: _overlap_ref(p.size, s, x, y, gamma), xy)


def test_overlap_vanishes_for_spaced_devices(problem: PlacementProblem) -> None:
    p = problem
    op = PairOverlap(p.size, 0.2, torch.float64)
    left = np.concatenate([[0.0], np.cumsum(p.size[:-1, 0] + 5.0)])  # a row with 5 um gaps
    cx = torch.tensor(left + p.size[:, 0] / 2)[None, :]
    assert op(cx, torch.zeros_like(cx), 0.05).item() < 1e-12


def test_boundary_matches_loop_reference(problem: PlacementProblem, xy: tuple[np.ndarray, np.ndarray]) -> None:
    p, gamma = problem, 0.3
    op = OutlinePenalty(p.size, p.outline, torch.float64)
    cx, cy = (torch.tensor(v) for v in xy)
    got = op(cx, cy, gamma).numpy()
    for b in range(B):
        assert got[b] == pytest.approx(_boundary_ref(p.size, p.outline, xy[0][b], xy[1][b], gamma), rel=1e-9)
    _check_grad(lambda x, y: op(x, y, gamma), lambda b, x, y: _boundary_ref(p.size, p.outline, x, y, gamma), xy)


def test_symmetry_matches_loop_reference(problem: PlacementProblem, xy: tuple[np.ndarray, np.ndarray]) -> None:
    p = problem
    op = MirrorAsymmetry(p.pairs, p.self_sym)
    axis = torch.tensor([0.0, 1.5, -2.0], dtype=torch.float64)
    cx, cy = (torch.tensor(v) for v in xy)
    got = op(cx, cy, axis).numpy()
    for b in range(B):
        assert got[b] == pytest.approx(_sym_ref(p, xy[0][b], xy[1][b], float(axis[b])), rel=1e-12)
    _check_grad(lambda x, y: op(x, y, axis), lambda b, x, y: _sym_ref(p, x, y, float(axis[b])), xy)
