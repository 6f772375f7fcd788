"""Few-shot fine-tuning that uses the simulated values, not only their worst-quartile labels (issue 14, part 3).

The paper's recipe relabels 16 layouts by their own worst quartile and keeps 16 bits. Their values also order
them: 16 layouts give 120 ordered pairs, each saying "this one is worse than that one". A pairwise logistic
(RankNet) loss on the network's logit learns that order, so the logit stays a score whose larger value means
"worse" and any pruning threshold can be chosen afterwards. The BCE on the sample's own quartile labels can be
added, so the logit's 0 keeps meaning roughly "worst quarter". With 16 layouts the base must not wander far:
training only the head or the last 3D block, with L2-SP (a penalty on the distance to the base weights), is the
strong regularization; bagging (weights averaged over fits on bootstrap resamples) is the cheap ensemble, and
it stays one network, so the ONNX artifact contract is unchanged.

The continuous score head (`score_targets`, recipe ``score_last``) keeps the values' order and spacing by rank:
the logit is regressed onto the logit of each layout's percentile among the training values, shifted so that 0
falls on the worst quartile's edge. The network keeps its one output (the ONNX contract holds), and a threshold
for any pruning rate is a quantile of that score.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

from placeq.errors import InputError
from training.config import TrainConfig, ValuesConfig
from training.feed import FeatureArray, Rows
from training.fit import (
    EpochRecord,
    FitResult,
    TrainingTimeout,
    class_weighted_bce,
    features_tensor,
    predict_logits,
    predict_proba,
    resolve_device,
    set_train_mode,
)
from training.metrics import evaluate
from training.nets import PlacementNet
from training.pair_loss import ordered_pairs, pairwise_ranking_loss

log = logging.getLogger(__name__)


BAD_SHARE = 0.25  # the worst quartile: the score's 0 sits on its edge, as the BCE labels' 0.5 does


def score_targets(badness: np.ndarray) -> np.ndarray:
    """(n,) float32 targets of the continuous score: logit(q) - logit(0.75), q the layout's mid-rank percentile
    among `badness` (ties share their mean rank), so the worst quarter lies above 0 and the ends stay finite."""
    b = np.asarray(badness, dtype=np.float64)
    q = (rankdata(b, method="average") - 0.5) / len(b)  # 1-based ranks, ties -> their mean rank
    edge = math.log((1.0 - BAD_SHARE) / BAD_SHARE)
    return np.asarray(np.log(q / (1.0 - q)) - edge, dtype=np.float32)


def pair_accuracy(scores: np.ndarray, badness: np.ndarray) -> float:
    """Share of ordered pairs that `scores` order as `badness` does (a tie counts half); 0.5 is chance."""
    worse, better = ordered_pairs(badness)
    if len(worse) == 0:
        return 0.5
    s = np.asarray(scores, dtype=np.float64)
    diff = s[worse] - s[better]
    return float(np.mean(np.where(diff > 0, 1.0, np.where(diff == 0, 0.5, 0.0))))


def scope_modules(model: PlacementNet, scope: str) -> list[nn.Module]:
    """The modules a value recipe trains: the dense head; the last conv block of the body (from its last
    convolution on) plus the head; or the whole network."""
    if scope == "all":
        return [model]
    if scope == "head":
        return [model.classifier]
    if scope == "last_block":
        body = list(model.body.children())
        convs = [k for k, m in enumerate(body) if isinstance(m, nn.Conv2d | nn.Conv3d)]
        if not convs:
            raise InputError("scope", f"{model.config.arch} has no convolution in its body")
        return [*body[convs[-1]:], model.classifier]
    raise InputError("scope", f"unknown scope {scope!r}; choose all, last_block or head")


def _trainable(model: PlacementNet, scope: str) -> list[nn.Parameter]:
    chosen = {id(p) for m in scope_modules(model, scope) for p in m.parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) in chosen)
    return [p for p in model.parameters() if p.requires_grad]


def _check(model: PlacementNet, x: FeatureArray, badness: np.ndarray, labels: np.ndarray) -> None:
    if not (len(x) == len(badness) == len(labels)) or len(x) == 0:
        raise InputError("values", f"{len(x)} layouts, {len(badness)} values and {len(labels)} labels")
    if not np.isfinite(badness).all():
        raise InputError("values", "a value recipe needs a finite value for every training layout")
    if not np.isin(labels, (0, 1)).all():
        raise InputError("labels", "labels must be 0 or 1")
    if tuple(x.shape[1:]) != model.config.input_shape:
        raise InputError("train", f"features of shape {tuple(x.shape[1:])}, {model.config.arch} expects "
                                  f"{model.config.input_shape}")
    if len(ordered_pairs(badness)[0]) == 0:
        raise InputError("values", "all training values are equal: there is no order to learn")


def _fit_once(
    model: PlacementNet,
    x: FeatureArray,
    badness: np.ndarray,
    labels: np.ndarray,
    target: np.ndarray,
    cfg: TrainConfig,
    vcfg: ValuesConfig,
    seed: int,
    on_epoch: Callable[[EpochRecord], None] | None,
    deadline: float | None,
) -> list[EpochRecord]:
    device = resolve_device(cfg.device)
    model.to(device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    params = _trainable(model, vcfg.scope)
    anchor = [p.detach().clone() for p in params]  # L2-SP pulls toward these (the base's weights)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    y = labels.astype(np.float32)
    bce = class_weighted_bce(y, cfg, device)
    n = len(y)
    n_batches = math.ceil(n / min(cfg.batch_size, n))
    history: list[EpochRecord] = []
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        set_train_mode(model, cfg)
        total = 0.0
        for idx in np.array_split(rng.permutation(n), n_batches):
            if deadline is not None and time.monotonic() > deadline:
                raise TrainingTimeout(f"stopped in epoch {epoch} of {cfg.epochs}: past the deadline")
            idx = np.sort(idx)
            xb = features_tensor(x, idx, device)
            opt.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = logits.sum() * 0.0  # the weighted terms below add to it
            if vcfg.rank_weight:
                worse, better = (torch.from_numpy(a).to(device) for a in ordered_pairs(badness[idx]))
                loss = loss + pairwise_ranking_loss(logits, worse, better) * vcfg.rank_weight
            if vcfg.bce_weight:
                loss = loss + bce(logits, torch.from_numpy(y[idx]).to(device)) * vcfg.bce_weight
            if vcfg.score_weight:
                goal = torch.from_numpy(target[idx]).to(device)
                loss = loss + nn.functional.smooth_l1_loss(logits.reshape(-1), goal) * vcfg.score_weight
            if vcfg.l2sp:
                drift = torch.stack([((p - a) ** 2).sum() for p, a in zip(params, anchor, strict=True)]).sum()
                loss = loss + drift * vcfg.l2sp
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        history.append(EpochRecord(epoch, total / n, None, None, time.perf_counter() - t0))
        if on_epoch is not None:
            on_epoch(history[-1])
    for p in model.parameters():
        p.requires_grad_(True)
    return history


def _average_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Mean of floating-point tensors over `states`; integer buffers (BatchNorm's counter) and tensors no fit
    changed (frozen layers: a float mean of equal values need not round back to them) from the first."""
    out: dict[str, torch.Tensor] = {}
    for k, v in states[0].items():
        same = all(torch.equal(s[k], v) for s in states[1:])
        out[k] = v.clone() if same or not v.is_floating_point() else torch.stack([s[k] for s in states]).mean(dim=0)
    return out


def fit_values(
    model: PlacementNet,
    train: tuple[FeatureArray, np.ndarray],
    badness: np.ndarray,
    cfg: TrainConfig,
    vcfg: ValuesConfig,
    *,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    deadline: float | None = None,
) -> FitResult:
    """Fine-tune `model` in place on the training layouts' order by `badness` (larger = worse) and their 0/1
    labels, for `cfg.epochs` epochs (no validation set: few-shot). With `vcfg.bags` > 1 the model ends with the
    mean weights of that many fits, each on a bootstrap resample of the layouts. Returns what `fit` returns, with
    the training pairs' `train_pair_accuracy` (share of ordered pairs the final logit orders right)."""
    x, labels = train[0], np.asarray(train[1]).reshape(-1)
    bad = np.asarray(badness, dtype=np.float64).reshape(-1)
    _check(model, x, bad, labels)
    target = score_targets(bad)  # ranks among all training layouts, also for a bootstrap resample's rows
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if vcfg.bags == 1:
        history = _fit_once(model, x, bad, labels, target, cfg, vcfg, cfg.seed, on_epoch, deadline)
    else:
        start = copy.deepcopy(model.state_dict())
        states: list[dict[str, torch.Tensor]] = []
        history = []
        for b in range(vcfg.bags):
            rows = np.sort(np.random.default_rng([cfg.seed, b]).choice(len(bad), size=len(bad), replace=True))
            if len(ordered_pairs(bad[rows])[0]) == 0 or labels[rows].min() == labels[rows].max():
                rows = np.arange(len(bad))  # a degenerate resample teaches nothing: fit on all layouts instead
            model.load_state_dict(start)
            history += _fit_once(model, Rows(x, rows), bad[rows], labels[rows], target[rows], cfg, vcfg,
                                 cfg.seed + b, on_epoch, deadline)
            states.append(copy.deepcopy(model.state_dict()))
        model.load_state_dict(_average_states(states))
    state = copy.deepcopy(model.state_dict())
    logits = predict_logits(model, x, cfg.eval_batch_size)
    metrics: dict[str, float] = {"best_epoch": float(cfg.epochs), "epochs_run": float(cfg.epochs),
                                 "bags": float(vcfg.bags), "train_pair_accuracy": pair_accuracy(logits, bad)}
    if cfg.report_train_accuracy:
        metrics["train_accuracy"] = evaluate(predict_proba(model, x, cfg.eval_batch_size), labels).accuracy
    log.info("value fine-tune (%s, %d bag(s)): train pair accuracy %.3f", vcfg.scope, vcfg.bags,
             metrics["train_pair_accuracy"])
    return FitResult(history=history, best_state=state, metrics=metrics, best_epoch=cfg.epochs, config=cfg)
