"""Training loop: base training, fine-tuning (paper Sec. III-E) and the random-init baseline (Table IV "w/o").

The data feed is `training.feed` (arrays, memmaps or on-demand rasterization), the configs `training.config`,
the splits `training.splits`; `training.pipeline` composes them into a model directory.

Determinism: `fit` seeds torch and its own numpy generator from `TrainConfig.seed`, and sets the torch thread
count; build the model after `seed_everything(seed)` for a reproducible initialization.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from placeq.errors import InputError
from training.config import TrainConfig
from training.feed import FeatureArray
from training.metrics import evaluate
from training.nets import PlacementNet, from_config, front_parameters
from training.pair_loss import GroupRanking

log = logging.getLogger(__name__)


class TrainingTimeout(RuntimeError):
    """Training passed the deadline its caller gave (a job's time limit); the model is left mid-training."""


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float | None
    val_accuracy: float | None
    seconds: float


@dataclass
class FitResult:
    """History per epoch, the state with the lowest validation loss, and metrics of that state."""

    history: list[EpochRecord]
    best_state: dict[str, torch.Tensor]
    metrics: dict[str, float]
    best_epoch: int
    config: TrainConfig = field(default_factory=TrainConfig)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # legacy global RNG, for third-party code that uses it


def _check_data(model: PlacementNet, x: FeatureArray, y: np.ndarray, name: str) -> np.ndarray:
    labels = np.asarray(y).reshape(-1)
    if len(x) != labels.shape[0]:
        raise InputError(name, f"{len(x)} feature rows but {labels.shape[0]} labels")
    if len(x) == 0:
        raise InputError(name, "no samples")
    if tuple(x.shape[1:]) != model.config.input_shape:
        raise InputError(
            name,
            f"features of shape {tuple(x.shape[1:])}, {model.config.arch} expects "
            f"{model.config.input_shape} ({model.config.input_kind})",
        )
    if not np.isin(labels, (0, 1)).all():
        raise InputError(name, "labels must be 0 or 1")
    return labels.astype(np.float32)


def resolve_device(device: str) -> torch.device:
    """"auto": CUDA when this machine has it, else the CPU; "cuda" without CUDA is the caller's error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("device", "cuda requested but torch sees no CUDA device here; use --device auto or cpu")
    if device not in ("cpu", "cuda"):
        raise InputError("device", f"unknown device {device!r}; choose auto, cpu or cuda")
    return torch.device(device)


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def features_tensor(x: FeatureArray, idx: np.ndarray, device: torch.device) -> torch.Tensor:
    """The rows `idx` of `x` (in file order: a memmap reads forward) as float32 on `device`."""
    return torch.from_numpy(np.asarray(x[np.sort(idx)], dtype=np.float32)).to(device)  # (b, C, 64, 64)


def _labels(y: np.ndarray, idx: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(y[np.sort(idx)]).to(device)  # (b,)


@torch.no_grad()
def predict_logits(model: nn.Module, x: FeatureArray, batch_size: int = 256) -> np.ndarray:
    """(N,) logits in eval mode, on the model's device; restores the model's previous mode."""
    was_training = model.training
    model.eval()
    dev = device_of(model)
    out = [model(features_tensor(x, np.arange(i, min(i + batch_size, len(x))), dev)).cpu().numpy()
           for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return np.concatenate(out).astype(np.float32)


def predict_proba(model: nn.Module, x: FeatureArray, batch_size: int = 256) -> np.ndarray:
    """(N,) probability of "prune" (worst quartile)."""
    return 1.0 / (1.0 + np.exp(-predict_logits(model, x, batch_size).astype(np.float64)))


def set_train_mode(model: nn.Module, cfg: TrainConfig) -> None:
    """Train mode, except BatchNorm layers when `cfg.freeze_norm_stats` (few layouts: keep the base's statistics)."""
    model.train()
    if cfg.freeze_norm_stats:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()  # use (and keep) the base model's running statistics


def class_weighted_bce(y: np.ndarray, cfg: TrainConfig, device: torch.device) -> nn.BCEWithLogitsLoss:
    """BCE-with-logits; with `cfg.class_weight` "balanced" positives weigh (negatives / positives) of `y`."""
    n_pos = float(np.sum(y))
    pos_weight = None
    if cfg.class_weight == "balanced" and 0 < n_pos < len(y):
        pos_weight = torch.tensor((len(y) - n_pos) / n_pos, device=device)
    return nn.BCEWithLogitsLoss(pos_weight=pos_weight)


def fit(
    model: PlacementNet,
    train: tuple[FeatureArray, np.ndarray],
    val: tuple[FeatureArray, np.ndarray] | None,
    cfg: TrainConfig | None = None,
    *,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    deadline: float | None = None,
    ranking: GroupRanking | None = None,
) -> FitResult:
    """Train with BCE-with-logits and AdamW, early stopping on validation loss. On return the model holds
    `best_state` (the last state when there is no validation set, e.g. 16 few-shot layouts).

    `ranking` adds a within-design pairwise order loss (`training.pair_loss`) to the BCE, in training and in
    the validation loss, and draws minibatches as same-design blocks.

    `on_epoch` hears each finished epoch (a job's progress); past `deadline` (time.monotonic()) the next
    minibatch raises TrainingTimeout, so a worker without a hard kill (the embedded one) still honours a limit.
    """
    cfg = cfg or TrainConfig()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    model.to(device)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    x_tr, y_tr = train[0], _check_data(model, train[0], train[1], "train")
    if val is not None:
        x_va, y_va = val[0], _check_data(model, val[0], val[1], "val")

    loss_fn = class_weighted_bce(y_tr, cfg, device)

    frozen = {id(p) for p in front_parameters(model)} if cfg.freeze_front else set()
    for p in model.parameters():
        p.requires_grad_(id(p) not in frozen)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    n = len(y_tr)
    n_batches = math.ceil(n / min(cfg.batch_size, n))  # array_split: sizes differ by <= 1, never a lone sample
    history: list[EpochRecord] = []
    best_loss, best_epoch, stale = math.inf, 0, 0
    best_state = copy.deepcopy(model.state_dict())
    if ranking is not None and (len(ranking.groups) != n or (
            val is not None and (ranking.val_groups is None or len(ranking.val_groups) != len(y_va)))):
        raise InputError("ranking", "the ranking's groups must be row-aligned with the train and val data")
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        set_train_mode(model, cfg)
        total = 0.0
        batches = (ranking.batches(rng, cfg.batch_size) if ranking is not None
                   else np.array_split(rng.permutation(n), n_batches))
        for idx in batches:
            if deadline is not None and time.monotonic() > deadline:
                raise TrainingTimeout(f"stopped in epoch {epoch} of {cfg.epochs}: past the deadline")
            idx = np.sort(idx)  # the order features_tensor and _labels read in, so the ranking term's too
            xb, yb = features_tensor(x_tr, idx, device), _labels(y_tr, idx, device)
            opt.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            if ranking is not None:
                loss = loss + ranking.loss(logits, idx)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        train_loss = total / n
        val_loss = val_acc = None
        if val is not None:
            logits = predict_logits(model, x_va, cfg.eval_batch_size)
            val_logits = torch.from_numpy(logits).to(device)
            val_loss = float(loss_fn(val_logits, torch.from_numpy(y_va).to(device)))
            if ranking is not None:
                val_loss += float(ranking.val_loss(val_logits))
            val_acc = float(np.mean((logits >= 0) == (y_va > 0.5)))
        history.append(EpochRecord(epoch, train_loss, val_loss, val_acc, time.perf_counter() - t0))
        log.info("epoch %d train_loss %.4f val_loss %s val_acc %s", epoch, train_loss, val_loss, val_acc)
        if on_epoch is not None:
            on_epoch(history[-1])
        current = val_loss if val_loss is not None else train_loss
        if current < best_loss - cfg.min_delta:
            best_loss, best_epoch, stale = current, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if val is not None and stale >= cfg.patience:
                break
    if val is None:  # nothing to select on: keep the final weights
        best_epoch, best_state = len(history), copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    for p in model.parameters():
        p.requires_grad_(True)

    metrics: dict[str, float] = {"best_epoch": float(best_epoch), "epochs_run": float(len(history))}
    if val is not None:
        proba = predict_proba(model, x_va, cfg.eval_batch_size)
        metrics.update({f"val_{k}": v for k, v in evaluate(proba, y_va).as_dict().items()})
        metrics["val_loss"] = best_loss
    if cfg.report_train_accuracy:
        metrics["train_accuracy"] = evaluate(predict_proba(model, x_tr, cfg.eval_batch_size), y_tr).accuracy
    return FitResult(history=history, best_state=best_state, metrics=metrics, best_epoch=best_epoch, config=cfg)


def random_init_like(base: PlacementNet, seed: int = 0) -> PlacementNet:
    """The "w/o" baseline of Table IV: same architecture, fresh weights."""
    seed_everything(seed)
    return from_config(base.config)


def history_rows(result: FitResult) -> list[dict[str, Any]]:
    """History as plain dicts (JSON / report friendly)."""
    return [asdict(r) for r in result.history]
