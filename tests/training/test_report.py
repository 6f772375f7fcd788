"""The paper's experiments on tiny data: few-shot relabelling, baselines, label files, the rendered report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from placeq.batch import PlacementBatch
from placeq.domain import DeviceKind, Subcircuit
from placeq.errors import InputError
from placeq.labels import balanced
from training.experiments import (
    DesignData,
    base_rows,
    fewshot,
    fewshot_labels,
    full_distribution_rows,
    metrics_row,
    read_values,
    table3,
    table4,
)
from training.fit import seed_everything
from training.heuristics import false_omission_rate, hpwl
from training.nets import build
from training.report import _save, merge_alphas, merge_rows, render, restore_parts
from training.splits import duplicate_groups
from training.synthetic import synthetic_task

TINY = {"body_channels": (8, 16, 16), "dense": (16,)}


def test_fewshot_labels_use_the_training_critical_value() -> None:
    # 16 offsets 1..16 mV (sign ignored): the worst 25% are 13..16 mV; quantile(0.75) of 1..16 is 12.25 mV.
    train = np.array([(-1) ** i * (i + 1) * 1e-3 for i in range(16)])
    test = np.array([0.5e-3, 12.0e-3, 12.3e-3, -20e-3, np.nan])
    y_tr, y_te = fewshot_labels(train, test, "offset")
    np.testing.assert_array_equal(y_tr, (np.arange(1, 17) >= 13).astype(np.int8))
    np.testing.assert_array_equal(y_te, [0, 0, 1, 1, -1])  # 12.0 < 12.25 <= 12.3; NaN is never labelled


def test_fewshot_labels_for_cmrr_mark_the_lowest_values_bad() -> None:
    train = np.arange(60.0, 76.0)  # dB; worst 25% = 60..63, critical = quantile 0.25 = 63.75
    y_tr, y_te = fewshot_labels(train, np.array([63.7, 63.8, 90.0]), "cmrr")
    np.testing.assert_array_equal(y_tr, (train < 64).astype(np.int8))
    np.testing.assert_array_equal(y_te, [1, 0, 0])


def test_heuristic_baselines_prune_the_same_share_as_the_model() -> None:
    labels = np.array([1, 1, 0, 0, 0, 0, 0, 1])
    proba = np.array([0.9, 0.8, 0.1, 0.2, 0.1, 0.3, 0.2, 0.4])  # 0.5 prunes 2 of 8: both bad, 1 bad kept
    perfect = labels.astype(float)
    m = metrics_row(proba, labels, 0.5, {"oracle": perfect, "inverse": -perfect})
    assert m["prune_rate"] == 0.25 and m["false_omission_rate"] == pytest.approx(1 / 6)
    assert m["for_random"] == pytest.approx(3 / 8)
    assert m["for_model_25"] == pytest.approx(1 / 6)  # the model's own top 25% = the 2 pruned at 0.5
    assert m["for_oracle"] == pytest.approx(1 / 6)  # prunes 2 bad of 3, keeps 1 bad among 6
    assert m["for_inverse"] == pytest.approx(3 / 6)  # prunes 2 good, all 3 bad are kept
    assert false_omission_rate(perfect, labels == 1, 3 / 8) == 0.0


def test_vectorized_hpwl_matches_a_per_net_loop() -> None:
    rng = np.random.default_rng(0)
    n, pins = 7, 9
    net = np.array([0, 2, 1, 0, 2, 2, 3, 1, 0])  # net 3 has one pin: no wire
    lo = rng.uniform(0, 30, size=(n, pins, 2))
    pin_boxes = np.concatenate([lo, lo + 0.4], axis=-1)  # (n, P, 4)
    batch = PlacementBatch(
        design="toy", device_names=("M1",), kinds=(DeviceKind.NMOS,), tags=((Subcircuit.FIRST_STAGE,),),
        pin_device=np.zeros(pins, dtype=np.int64), pin_terminal=("D",) * pins, pin_net=net,
        nets=("a", "b", "c", "d"), boxes=np.ones((n, 1, 4)), pin_boxes=pin_boxes,
    )
    ref = np.zeros(n)
    centre = lo + 0.2
    for k in range(n):
        for m in range(4):
            pts = centre[k, net == m]
            if len(pts) > 1:
                ref[k] += (pts.max(axis=0) - pts.min(axis=0)).sum()
    np.testing.assert_allclose(hpwl(batch), ref, rtol=1e-12)


def test_full_distribution_rows_restore_quartile_proportions() -> None:
    y = np.full(400, -1)
    y[:100], y[300:] = 0, 1
    test = np.r_[np.arange(0, 20), np.arange(300, 320)]
    rows = full_distribution_rows(y, test, seed=0)
    assert len(rows) == 80 and set(test) <= set(rows)
    assert (y[rows] == -1).sum() == 40 and (y[rows] == 1).sum() == 20  # 25 / 50 / 25 as in the design space
    assert len(np.unique(rows)) == len(rows)


def _synthetic(n: int, nofeat: bool = False) -> DesignData:
    x, y = synthetic_task(n, seed=1, nofeat=nofeat)
    values = (y + np.random.default_rng(2).uniform(0, 0.9, n)) * 1e-3  # bad layouts have larger |offset|
    rng = np.random.default_rng(3)
    return DesignData(name="toy", x=x, values=values, metric="offset",
                      heuristics={"hpwl": rng.uniform(size=n), "pair_distance": values + rng.normal(0, 1e-4, n)},
                      groups=duplicate_groups(x))


def test_report_renders_every_table_from_a_tiny_run(tmp_path: Path) -> None:
    data, nofeat = _synthetic(160), _synthetic(160, nofeat=True)
    settings = {"subsample": 80, "epochs": 1, "seed": 0, "alphas": [0.5, 0.0], "shots": 16, "repeats": 2}
    rows3 = table3(data, nofeat, ("nofeat2d", "fast3d"), subsample=80, epochs=1, threads=1)
    assert [r["arch"] for r in rows3] == ["nofeat2d", "fast3d"] and rows3[0]["n_test"] == 16
    seed_everything(0)
    base = build("fast3d", **TINY)
    rows4 = table4(base, 0.5, data, (0.5, 0.0), max_train=40, epochs=1, threads=1)
    assert [(r["alpha"], r["init"], r["n_train"]) for r in rows4] == [(0.5, "base", 40), (0.5, "random", 40),
                                                                     (0.0, "base", 0)]
    hot = table4(base, 0.5, data, (0.5,), max_train=40, epochs=1, threads=1, inits=("base_lr1e-3",))
    assert [(r["init"], r["lr"]) for r in hot] == [("base_lr1e-3", 1e-3)]
    with pytest.raises(InputError, match="inits"):
        table4(base, 0.5, data, (0.5,), max_train=40, epochs=1, inits=("warm",))
    rows6 = fewshot(base, data, shots=16, repeats=2, epochs=2, threads=1)
    assert len(rows6) == 2 and all(r["n_train_bad"] == 4 for r in rows6)
    idx, lab = balanced(data.values, "offset")
    rows0 = base_rows(base, 0.5, data, np.sort(np.r_[idx[lab == 0][:4], idx[lab == 1][:4]]))
    assert [(r["set"], r["n"]) for r in rows0] == [("balanced test", 8), ("full distribution", 16)]
    assert rows0[0]["for_random"] == pytest.approx(0.5) and rows0[1]["for_random"] == pytest.approx(0.25)
    for r in rows0:
        r.update(arch="fast3d", threshold=0.5, train_accuracy=0.9)
    for part, rows in (("base", rows0), ("table3", rows3), ("table4_toy", rows4), ("fewshot_toy", rows6)):
        _save(tmp_path, part, rows, settings)

    written = render(tmp_path, tmp_path / "out")
    md = (tmp_path / "out" / "experiments.md").read_text()
    assert "## The base model" in md and "| full distribution | 16 |" in md
    assert "## Table III" in md and "| fast3d |" in md and "fast3d vs feat3d" not in md  # no feat3d row here
    assert "## Table IV" in md and "| toy | 0.50 | 40 | 1 / ? | w/o |" in md and "base as is" in md
    assert "Average FOR at alpha = 0.1" not in md  # no alpha = 0.1 rows in this run
    assert "## Fig. 6" in md and "fewshot_for.png" in md
    png = tmp_path / "out" / "fewshot_for.png"
    assert png in written and png.read_bytes()[:4] == b"\x89PNG"
    assert set(json.loads((tmp_path / "out" / "experiments.json").read_text())) == {"base", "table3", "table4_toy",
                                                                                     "fewshot_toy"}
    # A fresh checkout (empty work directory) starts from the committed experiments.json and renders the same.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert restore_parts(fresh, tmp_path / "out") == ["base", "fewshot_toy", "table3", "table4_toy"]
    assert restore_parts(fresh, tmp_path / "out") == []  # never over parts already there
    render(fresh, tmp_path / "again")
    assert (tmp_path / "again" / "experiments.md").read_text() == md


def test_labels_command_writes_the_balanced_base_set(tmp_path: Path) -> None:
    # A `placeq simulate` table out of row order, one failed simulation.
    lines = ["index,value,status,metric"] + [f"{i},{v},{s},offset" for i, v, s in [
        (3, -4e-3, "ok"), (0, 1e-3, "ok"), (2, "", "failed"), (1, 2e-3, "ok"), (4, 5e-3, "ok"),
        (5, -6e-3, "ok"), (6, 0.5e-3, "ok"), (7, 3e-3, "ok"), (8, 7e-3, "ok")]]
    table = tmp_path / "labels.csv"
    table.write_text("\n".join(lines) + "\n")
    values, metric = read_values(table)
    assert metric == "offset" and np.isnan(values[2]) and values[3] == -4e-3
    out = tmp_path / "y.npy"
    cmd = [sys.executable, "-m", "cli", "labels", str(table), "--mode", "balanced", "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    # 8 finite |offsets| (mV): 0.5 1 2 3 4 5 6 7 -> best 2 (rows 6, 0) = 0, worst 2 (rows 5, 8) = 1
    np.testing.assert_array_equal(np.load(out), [0, -1, -1, -1, -1, 1, 0, -1, 1])


def test_table4_alphas_from_separate_sittings_merge_by_alpha(tmp_path: Path) -> None:
    def row(alpha: float, init: str, n: int) -> dict[str, object]:
        return {"alpha": alpha, "init": init, "n_train": n}

    path = tmp_path / "table4_ota2.json"
    first = merge_alphas(path, [row(0.1, "base", 10), row(0.1, "random", 10), row(0.0, "base", 0)])
    _save(tmp_path, "table4_ota2", first, {})
    merged = merge_alphas(path, [row(0.8, "random", 80), row(0.8, "base", 80), row(0.1, "base", 11),
                                 row(0.1, "base_lr1e-3", 12)])
    # A sitting redoes only its own (alpha, recipe) pairs; the rest are kept.
    assert [(r["alpha"], r["init"], r["n_train"]) for r in merged] == [
        (0.8, "base", 80), (0.8, "random", 80), (0.1, "base", 11), (0.1, "random", 10), (0.1, "base_lr1e-3", 12),
        (0.0, "base", 0)]


def test_table3_seeds_from_separate_sittings_average_the_fast3d_gap(tmp_path: Path) -> None:
    def row(arch: str, acc: float, **extra: object) -> dict[str, object]:
        return {"arch": arch, "params": 1.0, "train_accuracy": 1.0, "test_accuracy": acc, "best_epoch": 1.0,
                "epochs_run": 2.0, "seconds": 1.0, "n_train": 10.0, "n_val": 2.0, "n_test": 4.0, **extra}

    path = tmp_path / "table3.json"
    # The first sitting's rows predate the seed field: they take it from that part's settings.
    _save(tmp_path, "table3", [row("feat3d", 0.95), row("fast3d", 0.93)], {"seed": 0, "subsample": 20})
    keys = ("subsample", "seed", "arch")
    merged = merge_rows(path, [row("feat3d", 0.94, seed=1, subsample=20), row("fast3d", 0.94, seed=1, subsample=20)],
                        keys)
    assert [(r["seed"], r["arch"]) for r in merged] == [(0, "feat3d"), (0, "fast3d"), (1, "feat3d"), (1, "fast3d")]
    _save(tmp_path, "table3", merged, {"seed": 1, "subsample": 20})
    big = [row("feat3d", 0.90, seed=0, subsample=80, n_test=16.0), row("fast3d", 0.895, seed=0, subsample=80,
                                                                        n_test=16.0)]
    _save(tmp_path, "table3", merge_rows(path, big, keys), {"seed": 0, "subsample": 80})
    md = (render(tmp_path, tmp_path / "out")[0]).read_text()
    assert "| 20 / seed 0 (4) | 20 / seed 1 (4) | 80 / seed 0 (16) |" in md
    assert "| feat3d | 95.00 | 94.00 | 90.00 |" in md and "| fast3d | 93.00 | 94.00 | 89.50 |" in md
    assert "fast3d vs feat3d test accuracy on subsamples of 20 (feat3d minus fast3d, points): +2.00, +0.00; mean " \
        "+1.00 over 2 seeds: within" in md
    assert "subsamples of 80 (feat3d minus fast3d, points): +0.50: within" in md


def test_design_source_reads_builtins_circuit_jsons_and_explicit_triples(tmp_path: Path) -> None:
    from training.corpus import design_source

    assert design_source("ota2", tmp_path).placements == tmp_path / "ota2.parquet"
    (tmp_path / "designs").mkdir()
    (tmp_path / "spaces").mkdir()
    (tmp_path / "spaces" / "mine.parquet").write_bytes(b"")
    src = design_source(str(tmp_path / "designs" / "mine.json"), tmp_path / "elsewhere")
    assert (src.name, src.placements, src.labels) == ("mine", tmp_path / "spaces" / "mine.parquet",
                                                      tmp_path / "labels" / "mine.labels.parquet")
    src = design_source("c.json:p.parquet:l.parquet")
    assert (src.name, src.circuit, src.placements, src.labels) == ("c", "c.json", Path("p.parquet"), Path("l.parquet"))
    with pytest.raises(InputError, match="no nothere.parquet"):
        design_source(str(tmp_path / "nothere.json"), tmp_path)
    with pytest.raises(InputError, match="CIRCUIT.json"):
        design_source("a:b")


@pytest.mark.slow
def test_report_runs_on_a_design_given_as_a_circuit_json(tmp_path: Path) -> None:
    """issue 14 part 5: `placeq report` takes any design (a circuit JSON with its placements and labels), not only
    the built-ins: real placer, real ngspice labels, the shipped base model."""
    from cli import main
    from placeq.circuits import load_design

    corpus = tmp_path / "corpus"
    for sub in ("designs", "spaces", "labels"):
        (corpus / sub).mkdir(parents=True)
    circuit = corpus / "designs" / "my_ota.json"
    circuit.write_text(load_design("ota2").model_dump_json())
    space, labels = corpus / "spaces" / "my_ota.parquet", corpus / "labels" / "my_ota.labels.parquet"
    assert main(["place", "--design", str(circuit), "--count", "48", "--seed", "0", "--workers", "1",
                 "--no-progress", "-o", str(space)]) == 0
    assert main(["simulate", "--design", str(circuit), str(space), "--jobs", "1", "--no-progress",
                 "-o", str(labels)]) == 0
    out, work = tmp_path / "out", tmp_path / "work"
    assert main(["report", "--data-dir", str(tmp_path / "empty"), "--out", str(out), "--work", str(work),
                 "--targets", str(circuit), "--parts", "fewshot", "--repeats", "2", "--fewshot-epochs", "1",
                 "--threads", "1", "--device", "cpu"]) == 0
    rows = json.loads((work / "fewshot_my_ota.json").read_text())["rows"]
    assert len(rows) == 2 and all(0.0 <= r["false_omission_rate"] <= 1.0 and r["n"] == 10 for r in rows)
    assert "my_ota" in (out / "experiments.md").read_text()
