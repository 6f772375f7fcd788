"""From labelled layouts to a model directory: the one training path the CLI, the fine-tune job and the experiments use.

`train_model` (paper Sec. IV-B) and `finetune_model` (Sec. III-E, IV-C, IV-D) both run the same steps:
choose the training config (`Options` + the fine-tuning recipe), fit, choose the decision threshold, score the
test split, and write a model directory (`training.checkpoint.publish`: weights, split, the ONNX file verified
against torch, model.json). Publishing that directory into a model store is `model_store.publish_model_dir`, so
a version made by `placeq finetune` and one made by a `/finetune` job come out of the same code.
`fit_model` is the in-memory core, for the experiments that train hundreds of models and keep none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from placeq.devices import Device
from placeq.errors import InputError
from placeq.labels import badness
from placeq.recipes import DEFAULT_EPOCHS, RecipeChoice
from training.checkpoint import Checkpoint, publish
from training.config import TrainConfig, finetune_recipe, values_config
from training.feed import FeatureArray, Rows
from training.fit import EpochRecord, FitResult, fit, history_rows, predict_proba, random_init_like
from training.metrics import as_probability_threshold, choose_threshold, evaluate
from training.nets import PlacementNet
from training.pair_loss import GroupRanking

log = logging.getLogger(__name__)
PARITY_SAMPLE = 32  # real layouts the ONNX export is checked on


class Options(BaseModel):
    """How to train: what a user sets on the command line or in a job. Defaults are the paper's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int = Field(default=DEFAULT_EPOCHS, ge=1, description="Maximum epochs (early stopping on validation).")
    batch_size: int = Field(default=64, ge=1, description="Minibatch size.")
    lr: float | None = Field(default=None, gt=0, description="Learning rate; default: the recipe's (or 1e-3).")
    patience: int = Field(default=5, ge=1, description="Epochs without validation improvement before stopping.")
    balanced: bool = Field(default=False, description="Weight positives by n_neg/n_pos in the loss.")
    seed: int = Field(default=0, description="Seed of the initialization and the shuffling.")
    threads: int = Field(default=2, ge=0, description="torch threads.")
    device: Device = Field(default="auto", description="auto: CUDA when present, else the CPU.")
    recipe: RecipeChoice = Field(default="auto", description="Fine-tuning recipe (placeq.recipes).")
    from_scratch: bool = Field(default=False, description="Fine-tune: fresh weights (Table IV 'w/o').")
    freeze_front: bool = Field(default=False, description="Fine-tune: keep the separate 2D stack's weights.")
    target_for: float | None = Field(default=None, gt=0, lt=1, description="Threshold for this validation FOR.")
    prune_rate: float | None = Field(default=None, gt=0, lt=1, description="Threshold that prunes this share.")
    score_train: bool = Field(default=True, description="Score the training set once at the end (a metric).")


@dataclass
class Fitted:
    """A trained network with its threshold, metrics and how it was made (not yet written anywhere)."""

    model: PlacementNet
    threshold: float
    metrics: dict[str, float]
    config: TrainConfig
    recipe: str | None
    result: FitResult
    split: dict[str, np.ndarray] = field(default_factory=dict)
    values_config: dict[str, Any] | None = None  # a value recipe's settings (training.ranking), else None


def config_for(
    options: Options, n_train: int, *, finetune: bool, values: bool = False
) -> tuple[str | None, TrainConfig]:
    """(recipe, TrainConfig): from scratch lr 1e-3 with BatchNorm statistics learned; a fine-tune takes its
    recipe's rate, decay and BatchNorm rule (placeq.recipes; `values`: the simulated values are at hand, so a
    value recipe may be chosen). `options.lr` overrides the rate."""
    recipe, start = None, TrainConfig()
    if finetune and not options.from_scratch:
        recipe, start = finetune_recipe(n_train, options.recipe, values=values)
    cfg = TrainConfig(
        epochs=options.epochs,
        batch_size=options.batch_size,
        lr=options.lr if options.lr is not None else start.lr,
        weight_decay=start.weight_decay,
        class_weight="balanced" if options.balanced else "none",
        patience=options.patience,
        seed=options.seed,
        threads=options.threads,
        device=options.device,
        freeze_front=options.freeze_front,
        freeze_norm_stats=start.freeze_norm_stats,
        report_train_accuracy=options.score_train,
    )
    return recipe, cfg


def _check_labels(y: np.ndarray, rows: np.ndarray) -> None:
    used = y[rows]
    if len(used) == 0:
        raise InputError("labels", "no labelled layouts to train on")
    if used.min() == used.max():
        raise InputError("labels", "all training layouts carry the same label; training needs good and bad examples")


def fit_model(
    model: PlacementNet,
    x: FeatureArray,
    y: np.ndarray,
    split: dict[str, np.ndarray],
    options: Options,
    *,
    finetune: bool,
    default_threshold: float = 0.5,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    deadline: float | None = None,
    values: np.ndarray | None = None,
    metric: str = "offset",
    pair_groups: np.ndarray | None = None,
    pair_badness: np.ndarray | None = None,
    pair_weight: float = 0.0,
) -> Fitted:
    """Train `model` in place on ``split["train"]`` (early stopping on ``split["val"]``), choose the threshold,
    score ``split["test"]``. The threshold is `default_threshold` unless a target FOR or pruning rate is set.

    `values` (N,) are the simulated `metric` values row-aligned with `y` (the labels stay what the caller made of
    them, e.g. the sample's own worst quartile); a value recipe (training.ranking) also learns their order. Label
    recipes ignore them, so passing values never changes what gentle or full do.

    `pair_weight` > 0 adds the within-design pairwise order loss (`training.pair_loss.GroupRanking`) to a
    BCE fit: `pair_groups` (N,) say which design each row is of, `pair_badness` (N,) how bad it is (larger =
    worse, comparable only within a design, so several metrics can mix)."""
    tr, va, te = (np.asarray(split.get(k, ()), dtype=np.int64) for k in ("train", "val", "test"))
    _check_labels(y, tr)
    if values is not None and len(values) != len(y):
        raise InputError("values", f"{len(values)} values for {len(y)} labels")
    recipe, cfg = config_for(options, len(tr), finetune=finetune, values=values is not None)
    if recipe:
        log.info("fine-tuning recipe %s (%d labelled training layouts)", recipe, len(tr))
    log.info("train %d / val %d / test %d layouts, %s", len(tr), len(va), len(te), model.config.arch)
    vcfg = values_config(recipe)
    if vcfg is not None and values is not None:  # choose() refuses a value recipe without values
        from training.ranking import fit_values

        if len(va):
            log.info("value recipe %s: no early stopping, the %d validation layouts only score", recipe, len(va))
        result = fit_values(model, (Rows(x, tr), y[tr]), badness(values, metric)[tr], cfg, vcfg,
                            on_epoch=on_epoch, deadline=deadline)
    else:
        val = (Rows(x, va), y[va]) if len(va) else None
        ranking = None
        if pair_weight > 0:
            if pair_groups is None or pair_badness is None or not len(pair_groups) == len(pair_badness) == len(y):
                raise InputError("pair_weight", "a pairwise order loss needs pair_groups and pair_badness per row")
            ranking = GroupRanking(pair_groups[tr], pair_badness[tr], pair_weight,
                                   val_groups=pair_groups[va], val_badness=pair_badness[va])
        result = fit(model, (Rows(x, tr), y[tr]), val, cfg, on_epoch=on_epoch, deadline=deadline, ranking=ranking)
    threshold = default_threshold
    if options.target_for is not None or options.prune_rate is not None:
        on = va if len(va) else tr  # no validation set (few-shot): the training layouts are all we have
        proba = predict_proba(model, Rows(x, on))
        threshold = as_probability_threshold(
            choose_threshold(proba, y[on], target_for=options.target_for, prune_rate=options.prune_rate)
        )
    metrics = {**result.metrics, "train_size": float(len(tr)), "lr": cfg.lr}
    if len(te):
        proba = predict_proba(model, Rows(x, te))
        metrics.update({f"test_{k}": v for k, v in evaluate(proba, y[te], threshold).as_dict().items()})
        metrics.update({f"test@0.5_{k}": v for k, v in evaluate(proba, y[te], 0.5).as_dict().items()})
    return Fitted(model=model, threshold=threshold, metrics=metrics, config=cfg, recipe=recipe, result=result,
                  split={"train": tr, "val": va, "test": te},
                  values_config=vcfg.model_dump(mode="json") if vcfg is not None else None)


def write_model(out: Path, fitted: Fitted, x: FeatureArray, *, design: str, provenance: dict[str, Any]) -> Path:
    """The model directory of `fitted`; its ONNX export is checked on up to PARITY_SAMPLE real layouts."""
    fitted.model.cpu()  # the checkpoint and the ONNX export (and its parity check) are made on the CPU
    split = fitted.split
    rows = (split["test"] if len(split["test"]) else split["train"])[:PARITY_SAMPLE]
    extra = {**provenance, "recipe": fitted.recipe, "n_train": len(split["train"]), "n_val": len(split["val"]),
             "n_test": len(split["test"]), "history": history_rows(fitted.result)}
    if fitted.values_config is not None:
        extra["values_config"] = fitted.values_config
    ckpt = Checkpoint(model=fitted.model, threshold=fitted.threshold, design=design,
                      train_config=fitted.config.model_dump(mode="json"), metrics=fitted.metrics, extra=extra)
    report = publish(out, ckpt, sample=np.asarray(Rows(x, rows)[np.arange(len(rows))], dtype=np.float32),
                     split=split)
    log.info("wrote %s (onnx sha256 %s, |onnx - torch| %.1e)", out, report.sha256[:12], report.max_abs_diff_logit)
    return Path(out)


def train_model(
    arch_model: PlacementNet,
    x: FeatureArray,
    y: np.ndarray,
    split: dict[str, np.ndarray],
    out: Path,
    *,
    design: str,
    options: Options,
    provenance: dict[str, Any] | None = None,
) -> tuple[Path, Fitted]:
    """Train a freshly built network (paper Sec. IV-B) and write its model directory."""
    fitted = fit_model(arch_model, x, y, split, options, finetune=False)
    return write_model(out, fitted, x, design=design, provenance=provenance or {}), fitted


def finetune_model(
    base: Checkpoint,
    x: FeatureArray,
    y: np.ndarray,
    split: dict[str, np.ndarray],
    out: Path,
    *,
    design: str,
    options: Options,
    provenance: dict[str, Any] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    deadline: float | None = None,
    values: np.ndarray | None = None,
    metric: str = "offset",
) -> tuple[Path, Fitted]:
    """Transfer `base` to `design` (a copy; the base is untouched) and write the model directory. The new model
    keeps the base's threshold unless `options` asks for a target FOR or pruning rate. `values` / `metric`: the
    simulated values behind `y`, for the value recipes (`fit_model`)."""
    import copy

    model = random_init_like(base.model, options.seed) if options.from_scratch else copy.deepcopy(base.model)
    fitted = fit_model(model, x, y, split, options, finetune=True, default_threshold=base.threshold,
                       on_epoch=on_epoch, deadline=deadline, values=values, metric=metric)
    return write_model(out, fitted, x, design=design, provenance=provenance or {}), fitted


def all_rows(n: int) -> dict[str, np.ndarray]:
    """A split that trains on every layout (a job's few labelled layouts: nothing to hold out)."""
    return {"train": np.arange(n, dtype=np.int64), "val": np.zeros(0, np.int64), "test": np.zeros(0, np.int64)}
