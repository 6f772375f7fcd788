"""Vectorized layout-effect ops against slow references; the technology file; the simulate command."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from placeq.errors import InputError
from simulate.lde import edge_distance, gradient, neighbour_gap
from simulate.parasitics import branch_rc, spanning_tree
from simulate.techfile import Tech, load_tech

REPO = Path(__file__).resolve().parents[2]


def slow_mst(points: np.ndarray) -> tuple[float, np.ndarray]:
    """Kruskal over all pairs, then path lengths from the hub by walking the tree (one placement)."""
    k = len(points)
    d = {(i, j): float(np.abs(points[i] - points[j]).sum()) for i, j in itertools.combinations(range(k), 2)}
    group = list(range(k))

    def find(a: int) -> int:
        while group[a] != a:
            a = group[a]
        return a

    adj: dict[int, list[tuple[int, float]]] = {i: [] for i in range(k)}
    total = 0.0
    for (i, j), w in sorted(d.items(), key=lambda kv: kv[1]):
        if find(i) != find(j):
            group[find(i)] = find(j)
            adj[i].append((j, w))
            adj[j].append((i, w))
            total += w
    centroid = points.mean(axis=0)
    hub = int(np.abs(points - centroid).sum(axis=1).argmin())
    path = np.full(k, np.nan)
    path[hub] = 0.0
    stack = [hub]
    while stack:
        a = stack.pop()
        for b, w in adj[a]:
            if np.isnan(path[b]):
                path[b] = path[a] + w
                stack.append(b)
    return total, path


def test_spanning_tree_matches_kruskal() -> None:
    rng = np.random.default_rng(0)
    points = rng.integers(0, 50, size=(40, 7, 2)).astype(np.float64) + rng.random((40, 7, 2))  # distinct lengths
    tree = spanning_tree(points)
    for b in range(len(points)):
        total, path = slow_mst(points[b])
        assert tree.edge[b].sum() == pytest.approx(total)
        np.testing.assert_allclose(tree.path[b], path)


def test_branch_rc_uses_per_um_values() -> None:
    pts = np.array([[[0.0, 0.0], [10.0, 0.0], [10.0, 5.0]]])  # hub is the corner (10, 0)
    r, c = branch_rc(pts, r_per_um=2.0, c_per_um=1e-16, via_r=1.0, scale=0.5)
    np.testing.assert_allclose(r[0], [(2 * 10 + 1) * 0.5, 0.5, (2 * 5 + 1) * 0.5])
    np.testing.assert_allclose(c[0], [1e-15, 0.0, 5e-16])


def test_device_effects_match_loops() -> None:
    rng = np.random.default_rng(1)
    boxes = np.concatenate([rng.random((5, 6, 2)) * 40, 1 + rng.random((5, 6, 2)) * 5], axis=-1)
    tech = Tech()
    dvth, beta = gradient(boxes, tech)
    edge, gap = edge_distance(boxes), neighbour_gap(boxes)
    for b in range(5):
        x0, y0 = boxes[b, :, 0].min(), boxes[b, :, 1].min()
        x1, y1 = (boxes[b, :, 0] + boxes[b, :, 2]).max(), (boxes[b, :, 1] + boxes[b, :, 3]).max()
        for n in range(6):
            x, y, w, h = boxes[b, n]
            cx, cy = x + w / 2 - (x0 + x1) / 2, y + h / 2 - (y0 + y1) / 2
            assert dvth[b, n] == pytest.approx(tech.vth_grad_x * cx + tech.vth_grad_y * cy)
            assert beta[b, n] == pytest.approx(1 + tech.beta_grad_x * cx + tech.beta_grad_y * cy)
            assert edge[b, n] == pytest.approx(min(x - x0, y - y0, x1 - x - w, y1 - y - h))
            gaps = [max(boxes[b, m, 0] - x - w, x - boxes[b, m, 0] - boxes[b, m, 2],
                        boxes[b, m, 1] - y - h, y - boxes[b, m, 1] - boxes[b, m, 3], 0.0) for m in range(6) if m != n]
            assert gap[b, n] == pytest.approx(min(gaps))


def test_tech_file_overrides_and_rejects_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"vth_grad_x": 1e-4}))
    tech = load_tech(path)
    assert tech.vth_grad_x == 1e-4 and tech.wire_r_per_um == load_tech().wire_r_per_um
    assert tech.content_hash() != load_tech().content_hash()
    path.write_text(json.dumps({"vth_gradx": 1e-4}))
    with pytest.raises(InputError, match="vth_gradx"):
        load_tech(path)
    path.write_text(json.dumps({"wire_r_per_um": -1}))
    with pytest.raises(InputError, match="wire_r_per_um"):
        load_tech(path)
    assert all(desc for _default, desc in Tech.describe().values())


@pytest.mark.ngspice
def test_simulate_command_writes_labels_and_netlists(tmp_path: Path) -> None:
    from test_simulate import row_batch

    from placeq.circuits import load_design
    from training.dataset import write_batch

    batch = row_batch(load_design("ota4"))
    placements = write_batch(tmp_path / "p.jsonl", batch)
    out = tmp_path / "labels.csv"
    run = subprocess.run([sys.executable, "-m", "cli", "simulate", "--design", "ota4", str(placements), "-o",
                          str(out), "--netlists", str(tmp_path / "nets"), "--no-cache", "--no-progress"],
                         cwd=REPO, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["ok"] == 1 and summary["metric"] == "cmrr"
    header, row = out.read_text().splitlines()
    assert header.startswith("index,value,offset_v,cmrr_db,status,reason,label_source")
    assert ",ok,," in row and "ngspice-bsim4" in row
    netlist = tmp_path / "nets" / "ota4_000000.cir"
    by_hand = subprocess.run(["ngspice", "-b", str(netlist)], capture_output=True, text=True, check=False,
                             env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    cmrr = float(by_hand.stdout.split("cmrr_db = ")[1].split()[0])
    assert cmrr == pytest.approx(float(row.split(",")[3]), abs=0.01)
