"""Legalization by symmetric constraint-graph compaction: exact, vectorized over the batch, no LP.

MAGICAL legalizes with a constraint graph and an LP (CGLegalizer). An LP per placement is too slow for 16k
placements, so we keep the constraint graph and drop the LP, in a coordinate system where symmetry is free:

1. Symmetrize the global placement about its (grid-rounded) axis a: a pair's members get mirrored centres
   a -+ d at their mean height; self-symmetric devices get centre a.
2. Every device except the self-symmetric ones is on a side of the axis. Its x is written as a distance
   D >= w/2 + s/2 of its centre from the axis; both members of a pair share one D variable (and one y), so
   mirror symmetry holds by construction. Two devices on opposite sides never overlap (each keeps s/2 from the
   axis), so only same-side pairs and pairs with a self-symmetric device need a constraint.
3. Each such pair gets ONE edge, horizontal if it is more separated in x than in y in the global placement,
   else vertical (two self-symmetric devices: always vertical). Horizontal edges point outward (increasing
   D, self-symmetric devices innermost), vertical edges upward; orienting by a strict order of the symmetrized
   global coordinates (ties by node id) keeps both graphs acyclic, merged pair nodes included.
4. Longest paths from the axis (x) and from the floor (y) give the tightest positions meeting every edge:
   no overlap and spacing >= s, by construction. All arithmetic is in integer grid units; footprints have even
   grid widths, so pair mirrors and centred devices land exactly on the grid.

The topology (who is left of / below whom) comes from global placement, which is what the net weights change.
"""

from __future__ import annotations

import numpy as np

from training.placer.place import GlobalPlacement
from training.placer.problem import PlacementProblem

_NONE = np.iinfo(np.int64).min // 4  # "no edge" in max-plus arithmetic
_DECIMALS = 6  # output coordinates are rounded to 1e-6 um, far below the grid


def _merge_pairs(v: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """(B, N) values -> the same with both members of each pair (K, 2) set to their maximum (in place)."""
    if len(pairs):
        m = np.maximum(v[:, pairs[:, 0]], v[:, pairs[:, 1]])  # (B, K)
        v[:, pairs[:, 0]] = m
        v[:, pairs[:, 1]] = m
    return v


def _longest_path(lb: np.ndarray, edge: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Max-plus fixpoint v_j = max(lb_j, max_i v_i + edge_ij), both members of a pair sharing one value.

    lb (B, N) int64, edge (B, N, N) int64 (_NONE where absent, i -> j), pairs (K, 2) -> v (B, N).
    Converges in at most (longest chain) rounds since the graph (pairs merged) is acyclic.
    """
    n = lb.shape[1]
    v = _merge_pairs(lb.copy(), pairs)
    for _ in range(n + 1):
        new = _merge_pairs(np.maximum(lb, (v[:, :, None] + edge).max(axis=1)), pairs)  # (B, N)
        if np.array_equal(new, v):
            break
        v = new
    return v


def legalize(problem: PlacementProblem, gp: GlobalPlacement) -> tuple[np.ndarray, np.ndarray]:
    """Global placement -> (boxes (B, N, 4) x, y, w, h in um, mirrored (B, N) bool).

    `mirrored` marks the left member of each pair, drawn as the mirror image of its partner (pins flipped in x).
    The lower-left corner of every placement's bounding box is the origin.
    """
    g = problem.grid_um
    s = problem.spacing_grid
    w = problem.size_grid[:, 0]  # (N,) even ints
    h = problem.size_grid[:, 1]
    b, n = gp.cx.shape
    a = np.round(gp.axis / g)[:, None]  # (B, 1) grid units
    cx = gp.cx / g  # (B, N) float grid units
    cy = gp.cy / g
    side = np.where(cx >= a, 1, -1).astype(np.int64)  # (B, N)
    cx = cx.copy()
    cy = cy.copy()
    if len(problem.pairs):
        p, q = problem.pairs[:, 0], problem.pairs[:, 1]
        d = np.abs(cx[:, q] - cx[:, p]) / 2  # (B, K)
        q_right = cx[:, q] >= cx[:, p]
        cx[:, q] = np.where(q_right, a + d, a - d)
        cx[:, p] = np.where(q_right, a - d, a + d)
        side[:, q] = np.where(q_right, 1, -1)
        side[:, p] = -side[:, q]
        ymean = (cy[:, p] + cy[:, q]) / 2
        cy[:, p] = ymean
        cy[:, q] = ymean
    centred = np.zeros(n, dtype=bool)
    centred[problem.self_sym] = True
    cx[:, centred] = np.broadcast_to(a, (b, n))[:, centred]
    side[:, centred] = 0
    node_of = np.arange(n)
    if len(problem.pairs):
        node_of[problem.pairs[:, 1]] = problem.pairs[:, 0]
    dist = np.where(centred, -1.0, np.abs(cx - a))  # (B, N) outward order; centred devices innermost

    # Which pairs need an edge, and in which graph.
    same = side[:, :, None] == side[:, None, :]
    need = same | (side[:, :, None] == 0) | (side[:, None, :] == 0)
    need &= ~np.eye(n, dtype=bool)
    sep_x = np.abs(cx[:, :, None] - cx[:, None, :]) - (w[:, None] + w[None, :]) / 2  # (B, N, N)
    sep_y = np.abs(cy[:, :, None] - cy[:, None, :]) - (h[:, None] + h[None, :]) / 2
    both_centred = centred[:, None] & centred[None, :]
    horizontal = need & (sep_x >= sep_y) & ~both_centred
    vertical = need & ~horizontal

    def before(key: np.ndarray) -> np.ndarray:
        """(B, N, N) strict order i < j by (key, node id)."""
        ki, kj = key[:, :, None], key[:, None, :]
        ni, nj = node_of[:, None], node_of[None, :]
        order: np.ndarray = (ki < kj) | ((ki == kj) & (ni < nj))
        return order

    reach_x = (w[:, None] + w[None, :]) // 2 + s  # (N, N) centre distance needed side by side
    reach_y = (h[:, None] + h[None, :]) // 2 + s
    edge_x = np.where(horizontal & before(dist), reach_x, _NONE)  # (B, N, N)
    edge_y = np.where(vertical & before(cy), reach_y, _NONE)
    lb_x = np.where(centred, 0, w // 2 + (s + 1) // 2)  # (N,) a side device keeps s/2 from the axis
    dx = _longest_path(np.broadcast_to(lb_x, (b, n)).astype(np.int64), edge_x, problem.pairs)  # (B, N)
    yc = _longest_path(np.broadcast_to(h // 2, (b, n)).astype(np.int64), edge_y, problem.pairs)
    x0 = side * dx - w // 2  # relative to the axis
    y0 = yc - h // 2
    x0 -= x0.min(axis=1, keepdims=True)
    y0 -= y0.min(axis=1, keepdims=True)
    # Grid units -> um, rounded to the decimal (68 * 0.05 is 3.4000000000000004 in floating point): the
    # values written are the grid's, and mirrored pairs stay exact (both sides come from the same integers).
    boxes = np.round(np.stack(
        [x0 * g, y0 * g, np.broadcast_to(w * g, (b, n)), np.broadcast_to(h * g, (b, n))], axis=2
    ), _DECIMALS)  # (B, N, 4)
    mirrored = np.zeros((b, n), dtype=bool)
    if len(problem.pairs):
        left = np.where(side[:, problem.pairs[:, 0]] < 0, problem.pairs[:, 0], problem.pairs[:, 1])  # (B, K)
        np.put_along_axis(mirrored, left, True, axis=1)
    return boxes, mirrored


def pin_boxes(problem: PlacementProblem, boxes: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
    """Device boxes (B, N, 4) -> absolute pin boxes (B, P, 4); a mirrored device's pins flip in x."""
    dev = problem.pin_device
    local = problem.pin_local  # (P, 4)
    w = problem.size[dev, 0]  # (P,)
    flip = mirrored[:, dev]  # (B, P)
    lx0 = np.where(flip, w - local[:, 2], local[:, 0])
    lx1 = np.where(flip, w - local[:, 0], local[:, 2])
    x = boxes[:, dev, 0]
    y = boxes[:, dev, 1]
    return np.round(np.stack([x + lx0, y + local[:, 1], x + lx1, y + local[:, 3]], axis=2), _DECIMALS)
