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
from simulate.lde import active_areas, gradient, well_distance
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


def slow_well_distance(act: np.ndarray, pmos: list[int], enc: float, space: float, floor: float) -> list[float]:
    """One placement on a 0.01 um raster: n-wells painted (merged across gaps < space), distance by brute force."""
    step = 0.01
    wells = [(act[p, 0] - enc, act[p, 1] - enc, act[p, 2] + enc, act[p, 3] + enc) for p in pmos]
    lo = np.min([w[:2] for w in wells], axis=0) - 5
    hi = np.max([w[2:] for w in wells], axis=0) + 5
    xs = np.arange(lo[0], hi[0], step) + step / 2
    ys = np.arange(lo[1], hi[1], step) + step / 2
    grid = np.zeros((len(ys), len(xs)), dtype=bool)
    h = space / 2
    for x0, y0, x1, y1 in wells:  # grown by half the spacing (joins gaps < space), shrunk back below
        grid |= (xs[None, :] >= x0 - h) & (xs[None, :] <= x1 + h) & (ys[:, None] >= y0 - h) & (ys[:, None] <= y1 + h)
    out = []
    for n in range(len(act)):
        x0, y0, x1, y1 = act[n]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        if n in pmos:  # along the centre lines until the (grown) well ends, minus the growth
            row, col = grid[np.abs(ys - cy).argmin()], grid[:, np.abs(xs - cx).argmin()]
            def run(line: np.ndarray, coords: np.ndarray, start: float, sign: int) -> float:
                i = np.abs(coords - start).argmin()
                while 0 <= i + sign < len(line) and line[i + sign]:
                    i += sign
                return abs(coords[i] - start) + step / 2 - h
            d = min(run(row, xs, x1, 1), run(row, xs, x0, -1), run(col, ys, y1, 1), run(col, ys, y0, -1))
        else:
            d = min(float(np.hypot(max(w[0] - x1, x0 - w[2], 0), max(w[1] - y1, y0 - w[3], 0))) for w in wells)
        out.append(max(d, floor))
    return out


def test_gradient_and_well_distance_match_references() -> None:
    rng = np.random.default_rng(1)
    boxes = np.concatenate([rng.random((4, 6, 2)) * 12, 1 + rng.random((4, 6, 2)) * 3], axis=-1)
    dvth, beta = gradient(boxes, (3e-6, -2e-6), (1e-6, 5e-7))
    is_p = np.array([True, True, True, False, False, False])
    sc = well_distance(boxes, is_p, ~is_p, 0.2, 0.4, 0.05)
    act = active_areas(boxes)
    for b in range(4):
        x0, y0 = boxes[b, :, 0].min(), boxes[b, :, 1].min()
        x1, y1 = (boxes[b, :, 0] + boxes[b, :, 2]).max(), (boxes[b, :, 1] + boxes[b, :, 3]).max()
        for n in range(6):
            x, y, w, h = boxes[b, n]
            cx, cy = x + w / 2 - (x0 + x1) / 2, y + h / 2 - (y0 + y1) / 2
            assert dvth[b, n] == pytest.approx(3e-6 * cx - 2e-6 * cy)
            assert beta[b, n] == pytest.approx(1 + 1e-6 * cx + 5e-7 * cy)
        # overlapping random boxes make odd wells; the raster reference agrees within its step
        np.testing.assert_allclose(sc[b], slow_well_distance(act[b], [0, 1, 2], 0.2, 0.4, 0.05), atol=0.03)


def test_well_distance_of_pmos_in_one_well_and_an_nmos_beside_it() -> None:
    """PMOS closer than the well spacing share one merged well: one in the middle of a 3 x 3 block is far from
    the well's edge (1.6 um, to the block's top and bottom), the others sit at the enclosure; an NMOS 0.9 um
    right of the block's last active is 0.9 - 0.2 from the well."""
    boxes = [[2.4 * i, 1.4 * j, 2.2, 1.2] for j in range(3) for i in range(3)]  # actives 0.4 um apart
    boxes.append([7.8, 0.0, 2.2, 1.2])  # NMOS: active from 7.9, the block's last active ends at 6.9
    is_p = np.array([True] * 9 + [False])
    sc = well_distance(np.array([boxes]), is_p, ~is_p, enclosure_um=0.2, space_um=0.2, floor_um=0.05)[0]
    assert sc[4] == pytest.approx(1.6)
    assert np.delete(sc[:9], 4).tolist() == pytest.approx([0.2] * 8)
    assert sc[9] == pytest.approx(1.0 - 0.2)
    apart = np.array([boxes])
    apart[0, [3, 5], 0] += np.array([-0.4, 0.4])  # side neighbours 0.4 um further: wells 0.4 apart, not merged
    sc2 = well_distance(apart, is_p, ~is_p, enclosure_um=0.2, space_um=0.2, floor_um=0.05)[0]
    assert sc2[4] == pytest.approx(0.2)  # its own well now ends 0.2 um beside it
    merged = well_distance(apart, is_p, ~is_p, enclosure_um=0.2, space_um=0.5, floor_um=0.05)[0]
    assert merged[4] == pytest.approx(1.6)  # unless the spacing rule merges wells 0.4 apart


def test_tech_file_overrides_and_rejects_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"vth_grad": 1e-4}))
    tech = load_tech(path)
    assert tech.vth_grad == 1e-4 and tech.wire_r_per_um == load_tech().wire_r_per_um
    assert tech.content_hash() != load_tech().content_hash()
    path.write_text(json.dumps({"vth_gradx": 1e-4}))
    with pytest.raises(InputError, match="vth_gradx"):
        load_tech(path)
    path.write_text(json.dumps({"vth_grad_x": 1e-4}))  # a key of the old technology file: says what replaced it
    with pytest.raises(InputError, match="vth_grad_x.*replaced by vth_grad"):
        load_tech(path)
    path.write_text(json.dumps({"effects": ["gradient", "stress"]}))
    with pytest.raises(InputError, match="stress"):
        load_tech(path)
    path.write_text(json.dumps({"gradient_label": "worst"}))
    with pytest.raises(InputError, match="gradient_label"):
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
    # the label is the rms over gradient directions of the placement's three netlists, each runnable by hand
    gains, offsets = [], []
    for suffix in ("", "_gx", "_gy"):
        netlist = tmp_path / "nets" / f"ota4_000000{suffix}.cir"
        by_hand = subprocess.run(["ngspice", "-b", str(netlist)], capture_output=True, text=True, check=False,
                                 env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}).stdout
        gains.append(complex(float(by_hand.split("cm_re = ")[1].split()[0]),
                             float(by_hand.split("cm_im = ")[1].split()[0])))
        offsets.append(float(by_hand.split("offset_v = ")[1].split()[0]))
    g0, gx, gy = gains
    cmrr = -20 * np.log10(np.sqrt(abs(g0) ** 2 + abs(gx - g0) ** 2 + abs(gy - g0) ** 2))
    assert cmrr == pytest.approx(float(row.split(",")[3]), abs=0.01)
    o0, ox, oy = offsets
    assert np.sqrt(o0**2 + (ox - o0) ** 2 + (oy - o0) ** 2) == pytest.approx(float(row.split(",")[2]), rel=1e-3)


def test_effects_switch_their_instance_parameters_and_gradient_runs() -> None:
    """An effect switched off leaves its BSIM4 parameters out of the netlist; the rms label simulates three
    gradients (none, x, y at vth_grad), the fixed label one along its angle, no gradient one at zero."""
    import dataclasses

    from test_simulate import row_batch

    from placeq.circuits import load_design
    from simulate.netlist import build_template, layout_values

    circuit = load_design("ota3")
    batch = row_batch(circuit)
    tech = load_tech()
    for effects, has_sc, has_sa in (((), False, False), (("wpe",), True, False), (("lod",), False, True),
                                    (tuple(tech.effects), True, True)):
        t = dataclasses.replace(tech, effects=effects)
        template, routing = build_template(circuit, batch, t)
        text = template.render(layout_values(circuit, batch, routing, t), 0)
        assert (" sc=" in text) == has_sc and (" sa=" in text) == has_sa, effects
    s, ratio = tech.vth_grad, tech.beta_grad / tech.vth_grad
    assert tech.gradient_vectors() == [((0.0, 0.0), (0.0, 0.0)), ((s, 0.0), (s * ratio, 0.0)),
                                       ((0.0, s), (0.0, s * ratio))]
    fixed = dataclasses.replace(tech, gradient_label="fixed", gradient_angle_deg=90.0).gradient_vectors()
    assert len(fixed) == 1 and fixed[0][0] == pytest.approx((0.0, s), abs=1e-18)
    assert dataclasses.replace(tech, effects=("wires",)).gradient_vectors() == [((0.0, 0.0), (0.0, 0.0))]
