"""Training loop: base training, fine-tuning (paper Sec. III-E) and the random-init baseline (Table IV "w/o").

Data feed. Features arrive as anything indexable by an index array that returns (b, C, 64, 64) arrays: an
in-memory numpy array, a ``np.load(..., mmap_mode="r")`` memmap, or `LazyFeatures`, which rasterizes
`PlacementBatch` rows on demand. A full design space (16k x 18 x 64 x 64) is 4.8 GB in float32, so cached
features should be float16 (`to_float16`): every value the rasterizer writes -- intensities 0.25..1.0 and
CoordConv values i/64 -- is exact in float16, and the loop converts each minibatch to float32.

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
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from placeq.batch import PlacementBatch
from placeq.errors import InputError
from placeq.recipes import Recipe, choose
from training.metrics import evaluate
from training.nets import PlacementNet, from_config, front_parameters

log = logging.getLogger(__name__)


class FeatureArray(Protocol):
    """(N, C, 64, 64) features; ``x[idx]`` with a sorted int64 index array returns a numpy array."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __len__(self) -> int: ...

    def __getitem__(self, idx: np.ndarray) -> np.ndarray: ...


class LazyFeatures:
    """Rasterizes placements when indexed, so a 16k design space never sits in memory as float32."""

    def __init__(self, batch: PlacementBatch, *, nofeat: bool = False) -> None:
        from placeq.features import rasterize_batch  # the rasterizer lives in the torch-free core

        self._rasterize: Callable[..., np.ndarray] = rasterize_batch
        self.batch = batch
        self.nofeat = nofeat

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.batch), 2 if self.nofeat else 18, 64, 64)

    def __len__(self) -> int:
        return len(self.batch)

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        return self._rasterize(self.batch.take(np.asarray(idx)), nofeat=self.nofeat)  # (b, C, 64, 64) float32


class Rows:
    """Rows `index` of a feature array, without copying it (train/val/test splits of one design space)."""

    def __init__(self, base: FeatureArray, index: np.ndarray) -> None:
        self.base = base
        self.index = np.asarray(index, dtype=np.int64)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *tuple(self.base.shape[1:]))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        rows = self.index[np.asarray(idx)]
        order = np.argsort(rows, kind="stable")  # read the base in ascending order (memmap locality)
        out = np.asarray(self.base[rows[order]])
        return out[np.argsort(order)]  # back to the caller's order


def to_float16(x: np.ndarray) -> np.ndarray:
    """Halve the memory of cached features; exact for the rasterizer's intensities and coordinates."""
    return np.asarray(x, dtype=np.float16)


class TrainConfig(BaseModel):
    """Training hyper-parameters; stored with every checkpoint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int = Field(default=30, ge=1, description="Maximum number of epochs.")
    batch_size: int = Field(default=64, ge=1, description="Minibatch size (capped at the training set size).")
    lr: float = Field(default=1e-3, gt=0, description="AdamW learning rate (fine-tuning: ~1e-4).")
    weight_decay: float = Field(default=1e-4, ge=0, description="AdamW decoupled weight decay.")
    class_weight: Literal["none", "balanced"] = Field(
        default="none", description="balanced: weight positives by n_neg/n_pos in the loss (imbalanced labels)."
    )
    patience: int = Field(default=5, ge=1, description="Stop after this many epochs without val-loss improvement.")
    min_delta: float = Field(default=1e-4, ge=0, description="Smallest val-loss decrease that counts as improvement.")
    seed: int = Field(default=0, description="Seed for torch and the minibatch shuffling.")
    threads: int = Field(default=2, ge=0, description="torch.set_num_threads (0 = leave torch's default).")
    freeze_front: bool = Field(default=False, description="Fine-tuning: keep the separate 2D stack's weights.")
    freeze_norm_stats: bool = Field(
        default=False, description="Keep BatchNorm running statistics fixed (fine-tuning on few layouts)."
    )
    eval_batch_size: int = Field(default=256, ge=1, description="Batch size for validation and prediction.")
    report_train_accuracy: bool = Field(default=True, description="Score the training set once at the end.")


FINETUNE_CONFIG = TrainConfig(lr=1e-4, freeze_norm_stats=True)  # "gentle": few labels, keep the base's statistics
FULL_FINETUNE_CONFIG = TrainConfig(lr=1e-3, freeze_norm_stats=False)  # "full": the base weights trained as from scratch


def finetune_recipe(n_labelled: int, choice: str = "auto") -> tuple[Recipe, TrainConfig]:
    """(name, config) of the fine-tuning recipe `placeq.recipes.choose` picks for `n_labelled` layouts."""
    recipe = choose(n_labelled, choice)
    return recipe, FULL_FINETUNE_CONFIG if recipe == "full" else FINETUNE_CONFIG


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


def _tensor(x: FeatureArray, idx: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(x[np.sort(idx)], dtype=np.float32))  # (b, C, 64, 64)


def _labels(y: np.ndarray, idx: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(y[np.sort(idx)])  # (b,)


@torch.no_grad()
def predict_logits(model: nn.Module, x: FeatureArray, batch_size: int = 256) -> np.ndarray:
    """(N,) logits in eval mode; restores the model's previous mode."""
    was_training = model.training
    model.eval()
    out = [model(_tensor(x, np.arange(i, min(i + batch_size, len(x))))).numpy() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return np.concatenate(out).astype(np.float32)


def predict_proba(model: nn.Module, x: FeatureArray, batch_size: int = 256) -> np.ndarray:
    """(N,) probability of "prune" (worst quartile)."""
    return 1.0 / (1.0 + np.exp(-predict_logits(model, x, batch_size).astype(np.float64)))


def _set_train_mode(model: nn.Module, cfg: TrainConfig) -> None:
    model.train()
    if cfg.freeze_norm_stats:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()  # use (and keep) the base model's running statistics


def fit(
    model: PlacementNet,
    train: tuple[FeatureArray, np.ndarray],
    val: tuple[FeatureArray, np.ndarray] | None,
    cfg: TrainConfig | None = None,
    *,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    deadline: float | None = None,
) -> FitResult:
    """Train with BCE-with-logits and AdamW, early stopping on validation loss. On return the model holds
    `best_state` (the last state when there is no validation set, e.g. 16 few-shot layouts).

    `on_epoch` hears each finished epoch (a job's progress); past `deadline` (time.monotonic()) the next
    minibatch raises TrainingTimeout, so a worker without a hard kill (the embedded one) still honours a limit.
    """
    cfg = cfg or TrainConfig()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    x_tr, y_tr = train[0], _check_data(model, train[0], train[1], "train")
    if val is not None:
        x_va, y_va = val[0], _check_data(model, val[0], val[1], "val")

    n_pos = float(y_tr.sum())
    pos_weight = None
    if cfg.class_weight == "balanced" and 0 < n_pos < len(y_tr):
        pos_weight = torch.tensor((len(y_tr) - n_pos) / n_pos)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)

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
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        _set_train_mode(model, cfg)
        total = 0.0
        for idx in np.array_split(rng.permutation(n), n_batches):
            if deadline is not None and time.monotonic() > deadline:
                raise TrainingTimeout(f"stopped in epoch {epoch} of {cfg.epochs}: past the deadline")
            xb, yb = _tensor(x_tr, idx), _labels(y_tr, idx)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        train_loss = total / n
        val_loss = val_acc = None
        if val is not None:
            logits = predict_logits(model, x_va, cfg.eval_batch_size)
            val_loss = float(loss_fn(torch.from_numpy(logits), torch.from_numpy(y_va)))
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


def fine_tune(
    base: PlacementNet,
    train: tuple[FeatureArray, np.ndarray],
    val: tuple[FeatureArray, np.ndarray] | None,
    cfg: TrainConfig | None = None,
    *,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    deadline: float | None = None,
) -> tuple[PlacementNet, FitResult]:
    """Transfer (paper Sec. III-E): a copy of the base model trained on target-design data at a lower rate.

    The base model is left untouched. Default config: `FINETUNE_CONFIG` (lr 1e-4, BatchNorm stats frozen).
    """
    model = copy.deepcopy(base)
    return model, fit(model, train, val, cfg or FINETUNE_CONFIG, on_epoch=on_epoch, deadline=deadline)


def random_init_like(base: PlacementNet, seed: int = 0) -> PlacementNet:
    """The "w/o" baseline of Table IV: same architecture, fresh weights."""
    seed_everything(seed)
    return from_config(base.config)


def history_rows(result: FitResult) -> list[dict[str, Any]]:
    """History as plain dicts (JSON / report friendly)."""
    return [asdict(r) for r in result.history]


def synthetic_task(n: int, *, seed: int = 0, nofeat: bool = False, size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """A learnable stand-in for real data: one device box in set 0 (first stage), one in set 1 (other stages),
    CoordConv channels as in Algorithm 1; label 1 when the two boxes lie far apart (above the median distance).

    Returns X (n, 18, 64, 64) float32 (or (n, 2, 64, 64) with the boxes merged into image 0), y (n,) int64.
    """
    rng = np.random.default_rng(seed)
    grid = np.arange(64)
    corners = rng.integers(0, 64 - size, size=(n, 2, 2))  # (n, box, [row, col])
    rows = (grid[None, None, :] >= corners[..., :1]) & (grid[None, None, :] < corners[..., :1] + size)  # (n,2,64)
    cols = (grid[None, None, :] >= corners[..., 1:]) & (grid[None, None, :] < corners[..., 1:] + size)
    masks = rows[..., :, None] & cols[..., None, :]  # (n, 2, 64, 64)
    dist = np.linalg.norm(corners[:, 0] - corners[:, 1], axis=-1)  # (n,)
    y = (dist > np.median(dist)).astype(np.int64)
    coord_x = np.broadcast_to((grid / 64.0)[None, :], (64, 64))  # col / 64, as placeq.features
    coord_y = np.broadcast_to((grid / 64.0)[:, None], (64, 64))  # row / 64
    if nofeat:
        x = np.zeros((n, 2, 64, 64), dtype=np.float32)
        x[:, 0] = np.where(masks[:, 0], 0.25, 0.0) + np.where(masks[:, 1] & ~masks[:, 0], 0.5, 0.0)
        return x, y
    x = np.zeros((n, 18, 64, 64), dtype=np.float32)
    for k, intensity in ((0, 0.25), (1, 0.5)):
        x[:, 3 * k] = np.where(masks[:, k], intensity, 0.0)
        x[:, 3 * k + 1] = np.where(masks[:, k], coord_x, 0.0)
        x[:, 3 * k + 2] = np.where(masks[:, k], coord_y, 0.0)
    return x, y


# --- Data files -> arrays (the CLI and the workers) ---------------------------------------------------------

UNUSED = -1  # label of a layout left out of training, e.g. the middle half in the paper's balanced set


def load_features(
    path: str | Path, *, nofeat: bool = False, cache: str | Path | None = None, chunk: int = 1024
) -> tuple[FeatureArray, str | None]:
    """Features of a dataset file and its design name (None for a bare .npy).

    ``.npy`` (N, C, 64, 64) is memory-mapped. A placement dataset (.parquet / .jsonl, `training.dataset`) is
    rasterized once into a float16 array (2.4 GB for 16k layouts in feat form), saved to `cache` when given
    and read back from there on the next run.
    """
    p = Path(path)
    if p.suffix == ".npy":
        arr = np.load(p, mmap_mode="r")
        if arr.ndim != 4:
            raise InputError(str(p), f"expected (N, C, 64, 64) features, got shape {arr.shape}")
        return arr, None
    from placeq.features import rasterize_batch
    from training.dataset import read_batch

    batch = read_batch(p)
    if cache is not None and Path(cache).exists():
        arr = np.load(cache, mmap_mode="r")
        if len(arr) == len(batch) and arr.shape[1] == (2 if nofeat else 18):
            return arr, batch.design
    from tqdm import tqdm

    out = np.empty((len(batch), 2 if nofeat else 18, 64, 64), dtype=np.float16)
    for start in tqdm(range(0, len(batch), chunk), desc="rasterize", unit="chunk", leave=False):
        part = batch.take(slice(start, start + chunk))
        out[start : start + len(part)] = rasterize_batch(part, nofeat=nofeat)
    if cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, out)
    return out, batch.design


def load_labels(path: str | Path) -> np.ndarray:
    """(N,) int64 labels: 1 = prune (bad), 0 = keep, -1 = not used. ``.npy`` or a table with a ``label``
    column (Parquet), aligned row by row with the placements."""
    p = Path(path)
    if not p.is_file():
        raise InputError(str(p), "no such labels file")
    if p.suffix == ".npy":
        y = np.load(p)
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(p)
        if "label" not in table.column_names:
            raise InputError(str(p), f"no 'label' column (columns: {', '.join(table.column_names)})")
        y = table.column("label").to_numpy(zero_copy_only=False)
    y = np.asarray(y).reshape(-1)
    if not np.isin(y, (UNUSED, 0, 1)).all():
        raise InputError(str(p), "labels must be 1 (prune), 0 (keep) or -1 (unused)")
    return y.astype(np.int64)


def duplicate_groups(x: FeatureArray, chunk: int = 1024) -> np.ndarray:
    """(N,) int64 group id per layout: layouts with bit-identical features share an id.

    Different net weightings can legalize to the same placement (of 16,384 layouts, ota3 has 14,223 distinct
    feature tensors and ota4 15,254; docs/results/README.md); the model cannot tell such layouts apart, so a
    split that puts one copy in training and another in test leaks test answers. `split_indices(groups=...)`
    keeps each group on one side.
    """
    import hashlib

    digests: list[bytes] = []
    for start in range(0, len(x), chunk):
        part = np.ascontiguousarray(x[np.arange(start, min(start + chunk, len(x)))])
        digests += [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in part]
    _, ids = np.unique(np.frombuffer(b"".join(digests), dtype="V16"), return_inverse=True)
    return ids.astype(np.int64).reshape(-1)


def _group_end(seq: np.ndarray, k: int, groups: np.ndarray | None) -> int:
    """Smallest cut >= k that does not split a group (groups are contiguous in `seq`)."""
    if groups is None:
        return k
    while 0 < k < len(seq) and groups[seq[k]] == groups[seq[k - 1]]:
        k += 1
    return k


def split_indices(
    labels: np.ndarray,
    *,
    test_frac: float = 0.2,
    train_frac: float | None = None,
    train_count: int | None = None,
    val_frac: float = 0.1,
    min_val: int = 16,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Seeded train/val/test split over the used layouts (label 0/1).

    test: `test_frac` of the used layouts (paper: 20%, never seen in training). The training pool is the rest,
    or `train_frac` of *all* used layouts (the paper's alpha: 0.80 = everything but the test set) or exactly
    `train_count` layouts (few-shot). val (early stopping, threshold) is `val_frac` of the pool, or empty when
    that would be fewer than `min_val` layouts.

    With `groups` (`duplicate_groups`), copies of one layout land on the same side of every cut: a cut that
    would split a group moves past it, so a set can be a few layouts larger than asked. When every group has
    one member the split is the same as without `groups`.
    """
    used = np.flatnonzero(np.asarray(labels) >= 0)
    perm = np.random.default_rng(seed).permutation(used)
    if groups is not None:
        # Each group moves to where one fixed member (its lowest row) fell, so groups stay contiguous and every
        # group, large or small, has the same chance to land in test. (The first copy's place would pull a group
        # of 85 copies to the front: ota3's test set came out 19.7% bad instead of 25%.)
        groups = np.asarray(groups)
        lowest = np.full(groups.max(initial=-1) + 1, len(groups))
        np.minimum.at(lowest, groups[used], used)
        position = np.empty(len(groups), dtype=np.int64)
        position[perm] = np.arange(len(perm))
        perm = perm[np.argsort(position[lowest[groups[perm]]], kind="stable")]
    n_test = _group_end(perm, int(round(test_frac * len(used))), groups)
    test, pool = perm[:n_test], perm[n_test:]
    if train_frac is not None and train_count is not None:
        raise InputError("alpha", "give either a training fraction or a number of training layouts")
    if train_frac is not None:
        train_count = int(round(train_frac * len(used)))
    if train_count is not None:
        if not 0 < train_count <= len(pool):
            raise InputError("alpha", f"{train_count} training layouts requested, {len(pool)} available")
        pool = pool[: _group_end(pool, train_count, groups)]
    n_val = int(round(val_frac * len(pool)))
    if n_val < min_val:
        n_val = 0
    n_val = _group_end(pool, n_val, groups)
    return {"train": np.sort(pool[n_val:]), "val": np.sort(pool[:n_val]), "test": np.sort(test)}
