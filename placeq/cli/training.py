"""``placeq train | finetune | evaluate``: the paper's base training, transfer (Sec. III-E, IV-C) and scoring.

Inputs: ``--data`` is a placement dataset (.parquet / .jsonl from ``placeq place``; rasterized once, optionally
cached with ``--features-cache``) or a features .npy (N, C, 64, 64); ``--labels`` is a .npy or a Parquet table
with a ``label`` column (1 prune, 0 keep, -1 unused), row-aligned with the data. Output: a model directory
(weights, split, verified ONNX, model.json). torch is imported inside the handlers only.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from placeq import recipes
from placeq.errors import InputError

if TYPE_CHECKING:
    import numpy as np

    from training.checkpoint import Checkpoint

log = logging.getLogger(__name__)
ARCHS = ("nofeat2d", "nofeat3d", "feat2d", "feat3d", "fast3d")


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--design", required=True, help="design name stored with the model (e.g. ota1)")
    p.add_argument("--data", required=True, type=Path, help="placements (.parquet/.jsonl) or features (.npy)")
    p.add_argument("--labels", required=True, type=Path, help="labels (.npy or .parquet with a 'label' column)")
    p.add_argument("--features-cache", type=Path, help="float16 .npy cache of the rasterized features")
    p.add_argument("--test-frac", type=float, default=0.2, help="held-out test share (paper: 0.2)")
    p.add_argument("--val-frac", type=float, default=0.1, help="validation share of the training pool")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the initialization and the shuffling")
    p.add_argument("--threads", type=int, default=2, help="torch threads")


def _fit_args(p: argparse.ArgumentParser, lr: float | None) -> None:
    p.add_argument("-o", "--out", required=True, type=Path, help="model directory to write")
    p.add_argument("--epochs", type=int, default=30, help="maximum epochs (early stopping on validation loss)")
    p.add_argument("--batch-size", type=int, default=64, help="minibatch size")
    default = f"default {lr}" if lr else "default 1e-4, or 1e-3 with --from-scratch"
    p.add_argument("--lr", type=float, default=lr, help=f"AdamW learning rate ({default})")
    p.add_argument("--patience", type=int, default=5, help="epochs without improvement before stopping")
    p.add_argument("--balanced", action="store_true", help="weight positives by n_neg/n_pos in the loss")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--target-for", type=float, help="pick the threshold for this validation FOR")
    target.add_argument("--prune-rate", type=float, help="pick the threshold that prunes this share")


def register(sub: Any) -> None:
    p = sub.add_parser("train", help="train a placement-quality CNN on one design (paper Sec. IV-B)")
    _data_args(p)
    _fit_args(p, lr=1e-3)
    p.add_argument("--arch", choices=ARCHS, default="fast3d", help="architecture (default fast3d)")
    p.set_defaults(handler=train)

    p = sub.add_parser("finetune", help="transfer a trained model to another design (paper Sec. III-E)")
    _data_args(p)
    _fit_args(p, lr=None)
    p.add_argument("--base", required=True, type=Path, help="model directory of the base model")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--alpha", type=float, default=0.1, help="training ratio of the whole data set (0.8 = all)")
    size.add_argument("--shots", type=int, help="exact number of training layouts (few-shot, e.g. 16)")
    p.add_argument("--freeze-front", action="store_true", help="keep the separate 2D stack's weights")
    p.add_argument("--from-scratch", action="store_true", help="random-init baseline (Table IV 'w/o')")
    p.add_argument("--recipe", choices=recipes.CHOICES, default="auto",
                   help=f"{recipes.HELP}; --lr overrides the rate")
    p.set_defaults(handler=finetune)

    p = sub.add_parser("evaluate", help="accuracy, precision, recall, F1, FOR of a model on labelled data")
    p.add_argument("--model", required=True, type=Path, help="model directory")
    p.add_argument("--data", required=True, type=Path, help="placements (.parquet/.jsonl) or features (.npy)")
    p.add_argument("--labels", required=True, type=Path, help="labels (.npy or .parquet)")
    p.add_argument("--features-cache", type=Path, help="float16 .npy cache of the rasterized features")
    p.add_argument(
        "--all", action="store_true", help="score every labelled layout, not the test split (automatic on other data)"
    )
    p.add_argument("--threshold", type=float, help="override the model's threshold")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.set_defaults(handler=evaluate)


def _load(args: argparse.Namespace, nofeat: bool) -> tuple[Any, np.ndarray]:
    from training.fit import load_features, load_labels

    x, data_design = load_features(args.data, nofeat=nofeat, cache=args.features_cache)
    y = load_labels(args.labels)
    if len(x) != len(y):
        raise InputError("labels", f"{len(y)} labels for {len(x)} layouts in {args.data}")
    design = getattr(args, "design", None)
    if design and data_design and data_design.lower() != design.lower():
        log.warning("--design %s but %s holds placements of %s", design, args.data, data_design)
    return x, y


def _run(args: argparse.Namespace, ckpt_in: Checkpoint | None, model: Any) -> int:
    import numpy as np

    from training.checkpoint import Checkpoint, publish
    from training.fit import (
        Rows,
        TrainConfig,
        duplicate_groups,
        finetune_recipe,
        fit,
        history_rows,
        predict_proba,
        split_indices,
    )
    from training.metrics import as_probability_threshold, choose_threshold, evaluate

    x, y = _load(args, nofeat=model.config.input_kind == "nofeat")
    is_ft = ckpt_in is not None
    groups = duplicate_groups(x)  # copies of one layout stay on one side of the split
    if groups.max(initial=-1) + 1 < len(x):
        log.info("%d of %d layouts are copies of another; each is kept with its copies", len(x) - groups.max() - 1,
                 len(x))
    split = split_indices(
        y,
        test_frac=args.test_frac,
        train_frac=args.alpha if is_ft and args.shots is None else None,
        train_count=args.shots if is_ft else None,
        val_frac=args.val_frac,
        seed=args.seed,
        groups=groups,
    )
    tr, va, te = split["train"], split["val"], split["test"]
    recipe, start = None, TrainConfig()  # from scratch: lr 1e-3, BatchNorm statistics learned
    if is_ft and not getattr(args, "from_scratch", False):
        recipe, start = finetune_recipe(len(tr), args.recipe)
        log.info("fine-tuning recipe %s (%d labelled training layouts)", recipe, len(tr))
    lr = args.lr if args.lr is not None else start.lr
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=lr,
        class_weight="balanced" if args.balanced else "none",
        patience=args.patience,
        seed=args.seed,
        threads=args.threads,
        freeze_front=bool(getattr(args, "freeze_front", False)),
        freeze_norm_stats=start.freeze_norm_stats,
    )
    log.info("train %d / val %d / test %d layouts, %s", len(tr), len(va), len(te), model.config.arch)
    val = (Rows(x, va), y[va]) if len(va) else None
    result = fit(model, (Rows(x, tr), y[tr]), val, cfg)

    threshold = 0.5
    if args.target_for is not None or args.prune_rate is not None:
        on = va if len(va) else tr  # no validation set (few-shot): the training layouts are all we have
        threshold = as_probability_threshold(
            choose_threshold(
                predict_proba(model, Rows(x, on)), y[on], target_for=args.target_for, prune_rate=args.prune_rate
            )
        )
    metrics = dict(result.metrics)
    if len(te):
        proba = predict_proba(model, Rows(x, te))
        metrics.update({f"test_{k}": v for k, v in evaluate(proba, y[te], threshold).as_dict().items()})
        metrics.update({f"test@0.5_{k}": v for k, v in evaluate(proba, y[te], 0.5).as_dict().items()})
    extra = {
        "data": str(args.data),
        "labels": str(args.labels),
        "split_seed": args.seed,
        "test_frac": args.test_frac,
        "n_train": len(tr),
        "n_val": len(va),
        "n_test": len(te),
        "history": history_rows(result),
    }
    if is_ft:
        extra.update(base=str(args.base), alpha=args.alpha, shots=args.shots, from_scratch=args.from_scratch,
                     recipe=recipe)
    ckpt = Checkpoint(
        model=model,
        threshold=threshold,
        design=args.design,
        train_config=cfg.model_dump(mode="json"),
        metrics=metrics,
        extra=extra,
    )
    sample_rows = (te if len(te) else tr)[:32]  # real layouts for the ONNX parity check
    report = publish(args.out, ckpt, sample=np.asarray(x[sample_rows], dtype=np.float32), split=split)
    _print_metrics(metrics, threshold)
    print(f"wrote {args.out} (onnx sha256 {report.sha256[:12]}, |onnx - torch| {report.max_abs_diff_logit:.1e})")
    return 0


def _print_metrics(metrics: dict[str, float], threshold: float) -> None:
    keys = ("accuracy", "precision", "recall", "f1", "false_omission_rate", "prune_rate")
    for prefix in ("val_", "test_"):
        if f"{prefix}accuracy" in metrics:
            row = "  ".join(f"{k} {metrics[prefix + k]:.4f}" for k in keys)
            print(f"{prefix[:-1]:>5} @ {threshold:.3f}: {row}")
    if "train_accuracy" in metrics:
        print(f"train accuracy {metrics['train_accuracy']:.4f}")


def train(args: argparse.Namespace) -> int:
    from training.fit import seed_everything
    from training.nets import build

    seed_everything(args.seed)
    return _run(args, None, build(args.arch))


def finetune(args: argparse.Namespace) -> int:
    from training.checkpoint import load_checkpoint
    from training.fit import random_init_like

    base = load_checkpoint(args.base)
    model = random_init_like(base.model, args.seed) if args.from_scratch else base.model
    return _run(args, base, model)


def evaluate(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from training.checkpoint import load_checkpoint, load_split
    from training.fit import Rows, predict_proba
    from training.metrics import evaluate as score

    torch.set_num_threads(args.threads)
    ckpt = load_checkpoint(args.model)
    x, y = _load(args, nofeat=ckpt.model.config.input_kind == "nofeat")
    # The stored test split only means something on the data the model was trained on; on another design
    # (the alpha = 0 row of Table IV) every labelled layout is scored.
    same_data = Path(str(ckpt.extra.get("data", ""))).resolve() == Path(args.data).resolve()
    split = load_split(args.model) if same_data and not args.all else None
    rows = split["test"] if split is not None else np.flatnonzero(y >= 0)
    if len(rows) and rows.max() >= len(y):
        raise InputError("data", "the model's test split does not fit this data set; use --all")
    threshold = ckpt.threshold if args.threshold is None else args.threshold
    m = score(predict_proba(ckpt.model, Rows(x, rows)), y[rows], threshold)
    print(json.dumps({"model": str(args.model), "rows": "test split" if split else "all", **m.as_dict()}, indent=2))
    return 0
