"""The paper's Sec. IV experiments as functions: data loading, Table III, Table IV and Fig. 6 runs.

Each run returns plain dicts of metrics (training.metrics) so training/report.py can write tables without
knowing how a number was made. All runs are seeded; CPU-scale choices (subsamples, epoch caps, fewer repeats)
are parameters, and the report states them.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from placeq.devices import Device
from placeq.errors import InputError
from placeq.labels import UNLABELLED, balanced, critical_value, relabel, worst_quartile
from placeq.recipes import Recipe, RecipeChoice
from training.feed import FeatureArray, Rows, load_features, read_values
from training.fit import predict_proba, random_init_like, seed_everything
from training.heuristics import false_omission_rate, hpwl, pair_distance
from training.metrics import evaluate
from training.nets import PlacementNet, build, count_parameters
from training.pipeline import Options, fit_model
from training.splits import duplicate_groups, split_indices

log = logging.getLogger(__name__)
Row = dict[str, float | str]


# --- data --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DesignData:
    """One labelled design space: features, simulated metric, placements (for the heuristics)."""

    name: str
    x: FeatureArray  # (N, C, 64, 64) float16 memmap
    values: np.ndarray  # (N,) offset (V) or CMRR (dB); NaN for failed simulations
    metric: str  # "offset" | "cmrr"
    heuristics: dict[str, np.ndarray]  # name -> (N,) score, larger = predicted worse
    groups: np.ndarray  # (N,) duplicate_groups: copies of one layout share an id and one side of every split


def load_design(data_dir: str | Path, name: str, *, nofeat: bool = False) -> DesignData:
    """A labelled design space: `name` is a built-in (``<data_dir>/<name>.parquet`` and ``<name>.labels.parquet``,
    placeq simulate), a circuit JSON or ``CIRCUIT.json:PLACEMENTS:LABELS`` (`training.corpus.design_source`).
    Features are rasterized once into ``<placements stem>.f16.npy`` beside the placements (``.nofeat.f16.npy`` for
    the nofeat models) and memory-mapped."""
    from placeq.circuits import load_design as load_circuit
    from training.corpus import design_source
    from training.dataset import read_batch

    src = design_source(name, data_dir)
    stem = src.placements.name.removesuffix(".parquet")
    cache = src.placements.with_name(f"{stem}.{'nofeat.' if nofeat else ''}f16.npy")
    x, _ = load_features(src.placements, nofeat=nofeat, cache=cache)
    values, metric = read_values(src.labels)
    if len(values) != len(x):
        raise InputError(str(src.labels), f"{len(values)} labels for {len(x)} placements")
    batch = read_batch(src.placements)
    scores = {"hpwl": hpwl(batch), "pair_distance": pair_distance(batch, load_circuit(src.circuit))}
    groups = duplicate_groups(x)
    log.info("%s: %d layouts, %d distinct", src.name, len(x), int(groups.max()) + 1 if len(groups) else 0)
    return DesignData(name=src.name, x=x, values=values, metric=metric, heuristics=scores, groups=groups)


def full_distribution_rows(balanced_labels: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    """Test rows for the unbalanced (25% bad) evaluation of a model trained on the balanced set.

    The balanced test rows are the best and worst quartiles only (half each); adding as many never-seen
    middle-half layouts restores the design space's 25 / 50 / 25 proportions.
    """
    middle = np.flatnonzero(np.asarray(balanced_labels) == -1)
    k = min(len(middle), len(test))
    extra = np.random.default_rng(seed).choice(middle, size=k, replace=False)
    return np.sort(np.concatenate([np.asarray(test), extra]))


def metrics_row(proba: np.ndarray, labels: np.ndarray, threshold: float, heuristics: dict[str, np.ndarray]) -> Row:
    """Model metrics plus the baselines on the same rows: random pruning (FOR = share of bad layouts) and each
    heuristic pruning the same share as the model (and 25%)."""
    metrics = evaluate(proba, labels, threshold)
    m: Row = dict(metrics.as_dict())
    bad = np.asarray(labels) == 1
    m["for_random"] = float(bad.mean())
    m["for_model_25"] = false_omission_rate(np.asarray(proba), bad, 0.25)  # ranking quality at a fixed rate
    for name, score in heuristics.items():
        m[f"for_{name}"] = false_omission_rate(score, bad, metrics.prune_rate)
        m[f"for_{name}_25"] = false_omission_rate(score, bad, 0.25)
    return m


def _take(scores: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[rows] for k, v in scores.items()}


# --- Table III: architectures on the balanced base design ----------------------------------------------------


def table3(
    data: DesignData,
    nofeat: DesignData | None,
    archs: tuple[str, ...],
    *,
    subsample: int,
    epochs: int,
    seed: int = 0,
    threads: int = 2,
    device: Device = "cpu",
) -> list[Row]:
    """Train/test accuracy per architecture on one seeded balanced subsample (same split for every model)."""
    idx, lab = balanced(data.values, data.metric)
    y = np.full(len(data.values), UNLABELLED, dtype=np.int64)
    pick = np.sort(np.random.default_rng(seed).choice(len(idx), size=min(subsample, len(idx)), replace=False))
    y[idx[pick]] = lab[pick]
    split = split_indices(y, test_frac=0.2, val_frac=0.1, seed=seed, groups=data.groups)
    tr, va, te = split["train"], split["val"], split["test"]
    rows: list[Row] = []
    for arch in archs:
        seed_everything(seed)
        model = build(arch)
        src = data if model.config.input_kind == "feat" else nofeat
        if src is None:
            raise InputError("archs", f"{arch} needs the nofeat features")
        options = Options(epochs=epochs, patience=3, seed=seed, threads=threads, device=device)
        t0 = time.perf_counter()
        result = fit_model(model, src.x, y, {"train": tr, "val": va}, options, finetune=False).result
        seconds = time.perf_counter() - t0
        test = evaluate(predict_proba(model, Rows(src.x, te)), y[te], 0.5)
        rows.append({
            "arch": arch, "params": float(count_parameters(model)), "train_accuracy": result.metrics["train_accuracy"],
            "test_accuracy": test.accuracy, "best_epoch": float(result.best_epoch),
            "epochs_run": float(len(result.history)), "seconds": seconds,
            "n_train": float(len(tr)), "n_val": float(len(va)), "n_test": float(len(te)),
            "subsample": subsample, "seed": seed,  # which split: rows of several sittings merge on these
        })
        log.info("table3 %s: %s", arch, rows[-1])
    return rows


# --- Table IV: transfer at training ratio alpha, with and without the base model -----------------------------


# Table IV's runs: (start from the base weights, the service's fine-tuning recipe; None = from scratch).
RECIPES: dict[str, tuple[bool, Recipe | None]] = {
    "base": (True, "gentle"),  # "w": the paper's transfer (lr 1e-4, BatchNorm statistics kept)
    "random": (False, None),  # "w/o": fresh weights, lr 1e-3
    "base_lr1e-3": (True, "full"),  # "w" trained exactly like "w/o"
}


def table4(
    base: PlacementNet,
    base_threshold: float,
    data: DesignData,
    alphas: tuple[float, ...],
    *,
    max_train: int,
    epochs: int,
    seed: int = 0,
    threads: int = 2,
    device: Device = "cpu",
    prune_rate: float = 0.25,
    inits: tuple[str, ...] = ("base", "random"),
) -> list[Row]:
    """One row per (alpha, init) on the full distribution (worst 25% = 1) of a target design.

    `inits` name RECIPES: "base" ("w") starts from the base at lr 1e-4 with BatchNorm statistics frozen,
    "random" ("w/o") from fresh weights at lr 1e-3, "base_lr1e-3" from the base with the "w/o" recipe. All
    weight positives by n_neg/n_pos and pick the threshold that prunes `prune_rate` of the validation layouts
    (the training layouts when there is no validation set). alpha = 0 scores the base model as is, at its own
    threshold. The test split is the same 20% for every alpha.
    """
    unknown = set(inits) - set(RECIPES)
    if unknown:
        raise InputError("inits", f"unknown recipe(s) {sorted(unknown)}; choose from {', '.join(RECIPES)}")
    y = worst_quartile(data.values, data.metric).astype(np.int64)
    rows: list[Row] = []
    for alpha in alphas:
        split = split_indices(y, test_frac=0.2, train_frac=alpha if alpha > 0 else None, val_frac=0.1, seed=seed,
                              groups=data.groups)
        te = split["test"]
        heur = _take(data.heuristics, te)
        if alpha == 0:
            proba = predict_proba(base, Rows(data.x, te))
            rows.append({"alpha": 0.0, "init": "base", "n_train": 0.0,
                         **metrics_row(proba, y[te], base_threshold, heur)})
            continue
        tr, va = split["train"], split["val"]
        if max_train and len(tr) > max_train:
            tr = np.sort(np.random.default_rng(seed).choice(tr, size=max_train, replace=False))
        for init in inits:
            from_base, recipe = RECIPES[init]
            model = copy.deepcopy(base) if from_base else random_init_like(base, seed)
            options = Options(epochs=epochs, balanced=True, patience=3, seed=seed, threads=threads, device=device,
                              recipe=recipe or "auto", from_scratch=recipe is None, prune_rate=prune_rate,
                              score_train=False)
            t0 = time.perf_counter()
            fitted = fit_model(model, data.x, y, {"train": tr, "val": va}, options, finetune=True)
            proba = predict_proba(model, Rows(data.x, te))
            rows.append({
                "alpha": alpha, "init": init, "lr": fitted.config.lr, "n_train": float(len(tr)),
                "n_val": float(len(va)), "epochs_run": float(len(fitted.result.history)),
                "seconds": time.perf_counter() - t0, **metrics_row(proba, y[te], fitted.threshold, heur),
            })
            log.info("table4 %s alpha %s %s: FOR %.4f", data.name, alpha, init, rows[-1]["false_omission_rate"])
    return rows


# --- Fig. 6: few-shot transfer, labels from the 16 layouts' own ranks -----------------------------------------


def fewshot_labels(
    train_values: np.ndarray, test_values: np.ndarray, metric: str, q: float = 0.25
) -> tuple[np.ndarray, np.ndarray]:
    """(train labels, test labels): the worst q of the few training layouts are 1, and the test layouts are
    relabelled by that training critical value (paper Sec. IV-D), so their bad share can differ from q."""
    critical = critical_value(train_values, metric, q)
    return relabel(train_values, critical, metric), relabel(test_values, critical, metric)


def fewshot(
    base: PlacementNet,
    data: DesignData,
    *,
    shots: int,
    repeats: int,
    epochs: int,
    lr: float | None = None,
    seed: int = 0,
    threads: int = 2,
    device: Device = "cpu",
    recipe: RecipeChoice = "gentle",
) -> list[Row]:
    """`repeats` runs of: sample `shots` non-test layouts, label them by their own rank, fine-tune a copy of the
    base on them (no validation set: fixed epochs, threshold 0.5 after class weighting), score the test split
    relabelled by the same critical value. Also records the base model without fine-tuning and random pruning.

    `recipe` is placeq.recipes' name (default gentle, the paper's: lr 1e-4); a value recipe (rank*) also sees
    the 16 layouts' values. `lr` overrides the recipe's rate (None: the recipe's own)."""
    te = split_indices(np.zeros(len(data.values), dtype=np.int64), test_frac=0.2, seed=seed,
                       groups=data.groups)["test"]
    te = te[np.isfinite(data.values[te])]
    pool = np.setdiff1d(np.flatnonzero(np.isfinite(data.values)), te)
    base_proba = predict_proba(base, Rows(data.x, te))
    heur = _take(data.heuristics, te)
    rows: list[Row] = []
    for r in range(repeats):
        pick = np.sort(np.random.default_rng([seed, r]).choice(pool, size=shots, replace=False))
        y_tr, y_te = fewshot_labels(data.values[pick], data.values[te], data.metric)
        model = copy.deepcopy(base)
        options = Options(epochs=epochs, lr=lr, balanced=True, seed=seed + r, threads=threads, device=device,
                          recipe=recipe,
                          score_train=False)
        y = np.full(len(data.values), UNLABELLED, dtype=np.int64)
        y[pick] = y_tr
        fit_model(model, data.x, y, {"train": pick}, options, finetune=True, values=data.values,
                  metric=data.metric)
        m = metrics_row(predict_proba(model, Rows(data.x, te)), y_te, 0.5, heur)
        m["for_base"] = evaluate(base_proba, y_te, 0.5).false_omission_rate
        rows.append({"repeat": float(r), "n_train_bad": float(y_tr.sum()), **m})
    log.info("fewshot %s: median FOR %.4f", data.name, float(np.median([r["false_omission_rate"] for r in rows])))
    return rows


# --- the base model on its own design -------------------------------------------------------------------------


def base_rows(base: PlacementNet, threshold: float, data: DesignData, test: np.ndarray, *, seed: int = 0) -> list[Row]:
    """The base model on its balanced test split (as trained) and on the full distribution (worst 25% = 1) of
    the same never-seen layouts plus middle-half ones, at its stored threshold (paper Table IV, OTA1 row)."""
    idx, lab = balanced(data.values, data.metric)
    y_bal = np.full(len(data.values), UNLABELLED, dtype=np.int64)
    y_bal[idx] = lab
    y_full = worst_quartile(data.values, data.metric).astype(np.int64)
    full = full_distribution_rows(y_bal, test, seed)
    proba = dict(zip(full.tolist(), predict_proba(base, Rows(data.x, full)), strict=True))
    out: list[Row] = []
    for name, rows, y in (("balanced test", np.asarray(test), y_bal), ("full distribution", full, y_full)):
        p = np.array([proba[int(r)] for r in rows])
        out.append({"set": name, "n": float(len(rows)), **metrics_row(p, y[rows], threshold,
                                                                        _take(data.heuristics, rows))})
    return out
