"""Training loop: learning, early stopping, seeds, fine-tuning from a checkpoint, few-shot data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from placeq.batch import PlacementBatch
from placeq.domain import DeviceKind, Subcircuit
from placeq.errors import InputError
from training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from training.config import FINETUNE_CONFIG, TrainConfig, finetune_recipe
from training.feed import LazyFeatures, Rows, load_features, to_float16
from training.fit import fit, predict_proba, random_init_like, seed_everything
from training.nets import PlacementNet, build, front_parameters
from training.pipeline import Options, finetune_model
from training.splits import duplicate_groups, split_indices
from training.synthetic import synthetic_task

# Tiny widths keep each fit to a second or two on 2 cores; the structure is the real fast3d.
REPO = Path(__file__).resolve().parents[2]
TINY = {"body_channels": (8, 16, 16), "dense": (16,)}
FAST = TrainConfig(epochs=6, batch_size=16, lr=3e-3, report_train_accuracy=False)


@pytest.fixture(scope="module")
def task() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = synthetic_task(384, seed=0, size=12)
    return x[:256], y[:256], x[256:], y[256:]


def _tiny(seed: int = 0, **kw: object) -> PlacementNet:
    seed_everything(seed)
    return build("fast3d", **{**TINY, **kw})


def _params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_training_lowers_the_loss_on_a_learnable_task(task: tuple[np.ndarray, ...]) -> None:
    x, y, xv, yv = task
    model = _tiny()
    result = fit(model, (x, y), (xv, yv), FAST)
    losses = [r.train_loss for r in result.history]
    assert losses[-1] < 0.7 * losses[0]
    assert result.metrics["val_accuracy"] > 0.75  # a coin scores 50% on the median split
    assert 1 <= result.best_epoch <= len(result.history)
    # the model holds the best state on return
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, result.best_state[k])


def test_same_seed_gives_the_same_run(task: tuple[np.ndarray, ...]) -> None:
    x, y, xv, yv = task
    cfg = FAST.model_copy(update={"epochs": 2})
    a = fit(_tiny(seed=3), (x[:64], y[:64]), (xv[:32], yv[:32]), cfg)
    b = fit(_tiny(seed=3), (x[:64], y[:64]), (xv[:32], yv[:32]), cfg)
    assert [r.train_loss for r in a.history] == [r.train_loss for r in b.history]


def test_early_stopping_halts_when_validation_loss_stops_improving(task: tuple[np.ndarray, ...]) -> None:
    x, y, xv, _ = task
    xv = xv[:48]
    noise = np.random.default_rng(1).integers(0, 2, size=len(xv))  # unlearnable validation labels
    cfg = FAST.model_copy(update={"epochs": 15, "patience": 2, "lr": 1e-2})
    result = fit(_tiny(), (x[:64], y[:64]), (xv, noise), cfg)
    assert len(result.history) < 15
    val = [r.val_loss for r in result.history]
    assert result.history[result.best_epoch - 1].val_loss == min(v for v in val if v is not None)
    assert len(result.history) - result.best_epoch >= 2  # it stopped only after `patience` stale epochs


def test_fine_tune_starts_from_the_base_weights_and_moves_away(task: tuple[np.ndarray, ...], tmp_path: Path) -> None:
    x, y, xv, yv = task
    base = _tiny()
    fit(base, (x[:64], y[:64]), None, FAST.model_copy(update={"epochs": 2}))
    save_checkpoint(tmp_path, Checkpoint(model=base, threshold=0.4, design="ota1"))
    loaded = load_checkpoint(tmp_path)
    assert loaded.threshold == 0.4 and loaded.design == "ota1"
    for k, v in _params(base).items():
        torch.testing.assert_close(loaded.model.state_dict()[k], v)  # equal at start

    options = Options(epochs=2, batch_size=16, lr=1e-3, freeze_front=True, recipe="gentle", score_train=False)
    before = _params(loaded.model)
    data, labels = np.concatenate([x[64:128], xv[:32]]), np.concatenate([y[64:128], yv[:32]])
    split = {"train": np.arange(64), "val": np.arange(64, 96), "test": np.zeros(0, np.int64)}
    out, fitted = finetune_model(loaded, data, labels, split, tmp_path / "ft", design="ota2", options=options)
    assert fitted.config.freeze_norm_stats and fitted.threshold == 0.4  # the gentle recipe; the base's threshold
    assert (out / "model.onnx").is_file()
    tuned = fitted.model
    after = _params(tuned)
    assert _params(loaded.model).keys() == before.keys()
    for k, v in before.items():
        torch.testing.assert_close(loaded.model.state_dict()[k], v)  # the base model is untouched
    front = {n for n, _ in tuned.named_parameters() if n.startswith("front.")}
    assert front and all(torch.equal(after[n], before[n]) for n in front)  # frozen 2D stack
    body = [n for n, _ in tuned.named_parameters() if n.startswith(("body.", "classifier.")) and n.endswith("weight")]
    assert all(not torch.equal(after[n], before[n]) for n in body)  # the rest moved
    stats = [n for n in before if n.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.equal(after[n], before[n]) for n in stats)  # BatchNorm statistics frozen
    assert all(p.requires_grad for p in front_parameters(tuned))  # unfrozen for whoever trains next


def test_random_init_baseline_has_the_architecture_but_not_the_weights() -> None:
    base = _tiny(seed=0)
    fresh = random_init_like(base, seed=1)
    assert fresh.config == base.config
    new, old = fresh.classifier[-1], base.classifier[-1]
    assert isinstance(new, torch.nn.Linear) and isinstance(old, torch.nn.Linear)
    assert not torch.equal(new.weight, old.weight)


def test_few_shot_sixteen_layouts_train_without_a_validation_set(task: tuple[np.ndarray, ...]) -> None:
    """Paper Sec. IV-D: 16 target layouts, batch size larger than the data, BatchNorm in the model."""
    x, y, xv, _ = task
    model = _tiny()
    cfg = TrainConfig(epochs=5, batch_size=64, lr=1e-3, report_train_accuracy=True)
    result = fit(model, (x[:16], y[:16]), None, cfg)
    assert len(result.history) == 5 and result.best_epoch == 5
    assert "train_accuracy" in result.metrics and "val_accuracy" not in result.metrics
    proba = predict_proba(model, xv)
    assert proba.shape == (len(xv),) and np.isfinite(proba).all()


def test_float16_and_memmapped_features_train_like_float32(task: tuple[np.ndarray, ...], tmp_path: Path) -> None:
    x, y, _, _ = task
    half = to_float16(x[:32])
    np.testing.assert_array_equal(half.astype(np.float32), x[:32])  # intensities and i/64 are exact
    np.save(tmp_path / "f.npy", half)
    mm = np.load(tmp_path / "f.npy", mmap_mode="r")
    cfg = FAST.model_copy(update={"epochs": 1})
    a = fit(_tiny(), (x[:32], y[:32]), None, cfg)
    b = fit(_tiny(), (mm, y[:32]), None, cfg)
    assert a.history[0].train_loss == pytest.approx(b.history[0].train_loss)


def test_bad_training_data_names_the_field(task: tuple[np.ndarray, ...]) -> None:
    x, y, _, _ = task
    model = _tiny()
    with pytest.raises(InputError, match="train"):
        fit(model, (x[:10], y[:9]), None, FAST)
    with pytest.raises(InputError, match="expects"):
        fit(model, (x[:10, :2], y[:10]), None, FAST)
    with pytest.raises(InputError, match="val"):
        fit(model, (x[:10], y[:10]), (x[:4], np.full(4, 3)), FAST)


def _placeq(*argv: str) -> str:
    """Run the real `placeq` command (a subprocess from the repository root, as a user would)."""
    done = subprocess.run(
        [sys.executable, "-m", "cli", *argv], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_cli_trains_fine_tunes_and_evaluates_a_model_directory(tmp_path: Path) -> None:
    from training.export import read_metadata

    x, y = synthetic_task(120, seed=4, size=12)
    np.save(tmp_path / "x.npy", to_float16(x))
    np.save(tmp_path / "y.npy", y)
    common = ["--data", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"), "--epochs", "1"]
    out = _placeq(
        "train", "--design", "ota1", "--arch", "fast3d_flat", "-o", str(tmp_path / "base"), "--prune-rate", "0.25",
        *common
    )
    assert "test @" in out and "onnx sha256" in out
    meta = read_metadata(tmp_path / "base" / "model.onnx")
    assert meta["design"] == "ota1" and meta["architecture"] == "fast3d_flat"
    summary = json.loads((tmp_path / "base" / "model.json").read_text())
    assert summary["extra"]["n_test"] == 24 and len(summary["onnx"]["sha256"]) == 64
    assert float(meta["threshold"]) == pytest.approx(summary["threshold"])

    _placeq(
        "finetune",
        "--base",
        str(tmp_path / "base"),
        "--design",
        "ota2",
        "--shots",
        "16",
        "-o",
        str(tmp_path / "ft"),
        *common,
    )
    tuned = load_checkpoint(tmp_path / "ft")
    assert tuned.design == "ota2" and tuned.extra["n_train"] == 16 and tuned.extra["n_val"] == 0

    data = ["--data", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy")]
    scored = json.loads(_placeq("evaluate", "--model", str(tmp_path / "ft"), *data))
    assert scored["rows"] == "test split" and scored["n"] == 24
    assert 0.0 <= scored["false_omission_rate"] <= 1.0
    # another design's data: every labelled layout is scored (Table IV, alpha = 0)
    x2, y2 = synthetic_task(40, seed=9, size=12)
    np.save(tmp_path / "x2.npy", to_float16(x2))
    np.save(tmp_path / "y2.npy", y2)
    other = ["--data", str(tmp_path / "x2.npy"), "--labels", str(tmp_path / "y2.npy")]
    scored = json.loads(_placeq("evaluate", "--model", str(tmp_path / "base"), *other))
    assert scored["rows"] == "all" and scored["n"] == 40


def test_cli_train_starts_from_another_models_weights_and_records_it(tmp_path: Path) -> None:
    """`placeq train --init` (the corpus-pretrained base, then OTA1): the start is the given model, not a random
    draw, and the lineage names it."""
    x, y = synthetic_task(120, seed=4, size=12)
    np.save(tmp_path / "x.npy", to_float16(x))
    np.save(tmp_path / "y.npy", y)
    common = ["--data", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"), "--epochs", "1"]
    _placeq("train", "--design", "corpus", "--arch", "fast3d_flat", "-o", str(tmp_path / "pre"), "--seed", "1",
            *common)
    _placeq("train", "--design", "ota1", "--init", str(tmp_path / "pre"), "--lr", "1e-12", "-o",
            str(tmp_path / "from_pre"), *common)
    _placeq("train", "--design", "ota1", "--arch", "fast3d_flat", "--lr", "1e-12", "-o", str(tmp_path / "fresh"),
            *common)
    pre, tuned, fresh = (load_checkpoint(tmp_path / d) for d in ("pre", "from_pre", "fresh"))
    assert tuned.model.config.arch == "fast3d_flat"  # the architecture came from --init
    conv = [k for k, v in pre.model.state_dict().items() if k.endswith("weight") and v.dim() >= 4][0]
    w_pre, w_tuned, w_fresh = (m.model.state_dict()[conv] for m in (pre, tuned, fresh))
    assert torch.allclose(w_tuned, w_pre, atol=1e-6) and not torch.allclose(w_fresh, w_pre, atol=1e-3)
    init = tuned.extra["init"]
    assert init["path"] == str(tmp_path / "pre") and init["design"] == "corpus" and len(init["sha256"]) == 64

    clash = subprocess.run([sys.executable, "-m", "cli", "train", "--design", "ota1", "--init", str(tmp_path / "pre"),
                            "--arch", "feat3d", "-o", str(tmp_path / "x"), *common], cwd=REPO, capture_output=True,
                           text=True, timeout=300, check=False)
    assert clash.returncode == 2 and "arch" in clash.stderr and "fast3d_flat" in clash.stderr


def _placements(n: int) -> PlacementBatch:
    """n placements of a 3-device toy design (a first-stage pair and a bias device, one net)."""
    rng = np.random.default_rng(7)
    boxes = np.zeros((n, 3, 4))
    boxes[:, :, :2] = rng.uniform(0, 20, size=(n, 3, 2))
    boxes[:, :, 2:] = rng.uniform(1, 4, size=(n, 3, 2))
    pins = np.concatenate([boxes[:, :2, :2], boxes[:, :2, :2] + 0.5], axis=-1)  # (n, 2, 4) x0 y0 x1 y1
    return PlacementBatch(
        design="toy",
        device_names=("M1", "M2", "MB"),
        kinds=(DeviceKind.NMOS, DeviceKind.NMOS, DeviceKind.PMOS),
        tags=((Subcircuit.FIRST_STAGE,), (Subcircuit.FIRST_STAGE,), (Subcircuit.BIAS,)),
        pin_device=np.array([0, 1]),
        pin_terminal=("D", "D"),
        pin_net=np.array([0, 0]),
        nets=("out",),
        boxes=boxes,
        pin_boxes=pins,
    )


def test_placement_datasets_feed_training_through_the_rasterizer(tmp_path: Path) -> None:
    from placeq.features import rasterize_batch
    from training.dataset import write_batch

    batch = _placements(40)
    ref = rasterize_batch(batch)  # (40, 18, 64, 64)
    lazy = LazyFeatures(batch)
    assert lazy.shape == (40, 18, 64, 64)
    np.testing.assert_array_equal(lazy[np.array([3, 17])], ref[[3, 17]])

    write_batch(tmp_path / "toy.parquet", batch)
    x, design = load_features(tmp_path / "toy.parquet", cache=tmp_path / "toy.f16.npy", chunk=16)
    assert design == "toy" and np.asarray(x).dtype == np.float16
    np.testing.assert_allclose(np.asarray(x, dtype=np.float32), ref, atol=1e-3)  # float16 routing fractions
    again, _ = load_features(tmp_path / "toy.parquet", cache=tmp_path / "toy.f16.npy")
    assert isinstance(again, np.memmap)  # second run reads the cache

    y = (np.arange(40) % 2).astype(np.int64)
    rows = Rows(x, np.array([5, 1, 30]))
    np.testing.assert_array_equal(rows[np.array([2, 0])], np.asarray(x)[[30, 5]])  # caller's order kept
    result = fit(_tiny(), (lazy, y), None, FAST.model_copy(update={"epochs": 1}))
    assert np.isfinite(result.history[0].train_loss)


def test_splits_follow_the_paper_and_never_overlap() -> None:
    labels = np.array([1, 0, -1, 0] * 250)  # 750 used, 250 unused (the balanced set's middle half)
    s = split_indices(labels, test_frac=0.2, train_frac=0.1, seed=0)
    assert len(s["test"]) == 150 and len(s["train"]) + len(s["val"]) == 75
    assert len(s["val"]) == 0  # 10% of 75 < 16: no validation set
    everything = np.concatenate(list(s.values()))
    assert len(np.unique(everything)) == len(everything)
    assert (labels[everything] >= 0).all()
    full = split_indices(labels, seed=0)
    np.testing.assert_array_equal(full["test"], s["test"])  # same seed, same test set across alphas
    assert len(full["val"]) == 60 and len(full["train"]) == 540
    assert len(split_indices(labels, train_count=16)["train"]) == 16
    with pytest.raises(InputError, match="alpha"):
        split_indices(labels, train_frac=0.9)


def test_copies_of_one_layout_never_straddle_a_split() -> None:
    """ota3 and ota4 hold placements that legalize to the same boxes; a copy in train and one in test leaks."""
    rng = np.random.default_rng(0)
    distinct = rng.uniform(size=(300, 2, 4, 4)).astype(np.float16)
    x = distinct[rng.integers(0, 300, size=1000)]  # ~1000 rows, many repeated
    groups = duplicate_groups(x)
    assert groups.max() + 1 == len(np.unique(x.reshape(len(x), -1), axis=0))
    labels = np.zeros(len(x), dtype=np.int64)
    for kw in ({}, {"train_frac": 0.1}, {"train_count": 16}):
        s = split_indices(labels, seed=3, groups=groups, **kw)
        sides = [set(groups[s[k]].tolist()) for k in ("train", "val", "test")]
        assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2]), kw
        everything = np.concatenate(list(s.values()))
        assert len(np.unique(everything)) == len(everything)
    assert abs(len(split_indices(labels, seed=3, groups=groups)["test"]) - 200) < 10  # a cut moves past one group
    flat = split_indices(labels, seed=3)  # without groups the same data straddles
    assert set(groups[flat["train"]].tolist()) & set(groups[flat["test"]].tolist())


def test_large_groups_are_not_pulled_into_the_test_set() -> None:
    """One group of 200 copies among 800 singletons: it lands in test in about 20% of seeds, not nearly always."""
    groups = np.r_[np.zeros(200, dtype=np.int64), np.arange(1, 801)]
    labels = np.zeros(len(groups), dtype=np.int64)
    in_test = [0 in groups[split_indices(labels, seed=s, groups=groups)["test"]] for s in range(200)]
    assert 0.1 < np.mean(in_test) < 0.3


def test_group_split_equals_plain_split_without_duplicates() -> None:
    labels = np.array([1, 0, -1, 0] * 250)
    x = np.arange(1000 * 4, dtype=np.float32).reshape(1000, 1, 2, 2)
    groups = duplicate_groups(x)
    assert groups.max() + 1 == 1000
    for kw in ({}, {"train_frac": 0.1}):
        a, b = split_indices(labels, seed=0, **kw), split_indices(labels, seed=0, groups=groups, **kw)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


def test_auto_recipe_is_gentle_for_few_labels_and_full_from_a_hundred() -> None:
    assert finetune_recipe(16) == ("gentle", FINETUNE_CONFIG)
    name, cfg = finetune_recipe(100)
    assert name == "full" and cfg.lr == 1e-3 and not cfg.freeze_norm_stats
    assert finetune_recipe(5000, "gentle")[0] == "gentle" and finetune_recipe(4, "full")[0] == "full"
    with pytest.raises(InputError, match="recipe"):
        finetune_recipe(16, "hot")  # type: ignore[arg-type]


def test_device_auto_trains_where_torch_sees_a_device_and_cuda_without_one_is_refused() -> None:
    from training.fit import resolve_device

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="device"):
            resolve_device("cuda")
    x, y = synthetic_task(32, seed=1)
    model = _tiny()
    fit(model, (x, y), None, FAST.model_copy(update={"epochs": 1, "device": "auto"}))
    assert next(model.parameters()).device == resolve_device("auto")
