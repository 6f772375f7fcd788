"""Routing parasitics: per net a rectilinear minimum spanning tree over its pins, one R and C per pin branch.

Why per pin and not per net: offset and CMRR respond only to asymmetry between matched pins. One lumped R per
net changes nothing; a tree gives the pin far from the net's hub a longer path, so unequal routes give unequal IR
drops and loads. The hub (where the net's other side, e.g. a testbench source, attaches) is the pin closest to
the pins' centroid. Pin k then hangs on the hub through

    R_k = (wire_r_per_um * path_k + via_r) * scale      path_k: tree path length hub -> k (um)
    C_k = wire_c_per_um * edge_k                        edge_k: length of the tree edge that reaches k (um)

so sum C_k is the tree's capacitance. Everything is vectorized over the B placements of a batch (Prim's
algorithm runs K-1 steps of (B, K) array operations per net).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Branches:
    """Per placement and pin of one net: tree path length to the hub and the length of its own edge (um)."""

    path: np.ndarray  # (B, K) float64, 0 at the hub
    edge: np.ndarray  # (B, K) float64, 0 at the hub
    parent: np.ndarray  # (B, K) int64, -1 at the hub
    hub: np.ndarray  # (B,) int64


def manhattan(points: np.ndarray) -> np.ndarray:
    """(B, K, K) pairwise Manhattan distances of (B, K, 2) points."""
    return np.asarray(np.abs(points[:, :, None, :] - points[:, None, :, :]).sum(axis=-1))


def hub_index(points: np.ndarray) -> np.ndarray:
    """(B,) index of the pin nearest (Manhattan) to the centroid of each placement's pins."""
    centroid = points.mean(axis=1, keepdims=True)  # (B, 1, 2)
    return np.asarray(np.abs(points - centroid).sum(axis=-1).argmin(axis=1))


def spanning_tree(points: np.ndarray) -> Branches:
    """Rectilinear MST of each placement's (B, K, 2) pin points, rooted at its hub."""
    b, k = points.shape[:2]
    rows = np.arange(b)
    dist = manhattan(points)
    hub = hub_index(points)
    in_tree = np.zeros((b, k), dtype=bool)
    in_tree[rows, hub] = True
    best = dist[rows, hub].copy()  # (B, K) distance to the tree
    parent = np.broadcast_to(hub[:, None], (b, k)).copy()
    for _ in range(k - 1):
        nxt = np.where(in_tree, np.inf, best).argmin(axis=1)  # (B,)
        in_tree[rows, nxt] = True
        closer = (dist[rows, nxt] < best) & ~in_tree
        best = np.where(closer, dist[rows, nxt], best)
        parent = np.where(closer, nxt[:, None], parent)
    parent[rows, hub] = -1
    edge = np.where(parent >= 0, best, 0.0)
    edge[rows, hub] = 0.0
    # path length to the hub: relax k times along parent links (a tree has depth < k)
    path = edge.copy()
    safe_parent = np.where(parent >= 0, parent, 0)
    for _ in range(k):
        path = edge + np.where(parent >= 0, np.take_along_axis(path, safe_parent, axis=1), 0.0)
    return Branches(path=path, edge=edge, parent=parent, hub=hub)


def branch_rc(points: np.ndarray, r_per_um: float, c_per_um: float, via_r: float,
              scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(R, C), each (B, K): the branch resistance (ohm) and capacitance (F) of every pin of one net."""
    if points.shape[1] == 1:
        zeros = np.zeros(points.shape[:2])
        return zeros + via_r * scale, zeros
    tree = spanning_tree(points)
    return (r_per_um * tree.path + via_r) * scale, c_per_um * tree.edge
