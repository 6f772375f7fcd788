"""``placeq train | finetune | evaluate``: the paper's base training, transfer (Sec. III-E, IV-C) and scoring.

Inputs: ``--data`` is a placement dataset (.parquet / .jsonl from ``placeq place``; rasterized once, optionally
cached with ``--features-cache``) or a features .npy (N, C, 64, 64); ``--labels`` is a .npy (``placeq labels``), a
Parquet table with a ``label`` column (1 prune, 0 keep, -1 unused), or the ``placeq simulate`` table itself
(labelled worst 25% -> 1 on load, and logged), row-aligned with the data. Output: a model directory
(weights, split, verified ONNX, model.json). torch is imported inside the handlers only.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from placeq import recipes
from placeq.architectures import ARCHITECTURES, DEFAULT_ARCHITECTURE
from placeq.artifact import SUMMARY
from placeq.devices import DEVICES
from placeq.errors import InputError

if TYPE_CHECKING:
    import numpy as np

    from training.pipeline import Options

log = logging.getLogger(__name__)


def _data_args(p: argparse.ArgumentParser, *, values: bool = False) -> None:
    p.add_argument("--design", required=True, help="design name stored with the model (e.g. ota1)")
    p.add_argument("--data", required=True, type=Path, help="placements (.parquet/.jsonl) or features (.npy)")
    given = p.add_mutually_exclusive_group(required=True) if values else p
    given.add_argument("--labels", required=not values, type=Path,
                       help="labels: .npy from `placeq labels`, .parquet with a 'label' column, or a `placeq "
                            "simulate` table (labelled worst 25%% -> 1, the rest 0)")
    if values:
        given.add_argument("--values", type=Path,
                           help="a `placeq simulate` table (.parquet/.csv/.jsonl): its values are relabelled by the "
                                "training layouts' own worst 25%% (as POST /finetune does with values), and the "
                                "value recipes (rank*) also learn their order")
    p.add_argument("--features-cache", type=Path, help="float16 .npy cache of the rasterized features")
    p.add_argument("--test-frac", type=float, default=0.2, help="held-out test share (paper: 0.2)")
    p.add_argument("--val-frac", type=float, default=0.1, help="validation share of the training pool")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the initialization and the shuffling")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="where to train: auto = CUDA when torch sees a device, else the CPU (ONNX export: CPU)")


def _fit_args(p: argparse.ArgumentParser, lr: float | None) -> None:
    p.add_argument("-o", "--out", required=True, type=Path, help="model directory to write")
    p.add_argument("--epochs", type=int, default=recipes.DEFAULT_EPOCHS,
                   help=f"maximum epochs (default {recipes.DEFAULT_EPOCHS}; early stopping on validation loss)")
    p.add_argument("--batch-size", type=int, default=64, help="minibatch size")
    default = f"default {lr}" if lr else "default: the recipe's rate (gentle 1e-4, full 1e-3), 1e-3 with --from-scratch"
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
    p.add_argument("--arch", choices=ARCHITECTURES, default=None,
                   help=f"architecture (default {DEFAULT_ARCHITECTURE}, or --init's; docs/models.md)")
    p.add_argument("--init", type=Path, metavar="MODEL_DIR",
                   help="start from this model's weights (e.g. `placeq pretrain`'s corpus model) instead of a random "
                        "initialization; its architecture is used")
    p.set_defaults(handler=train)

    p = sub.add_parser("finetune", help="transfer a trained model to another design (paper Sec. III-E)")
    _data_args(p, values=True)
    _fit_args(p, lr=None)
    p.add_argument("--base", required=True, type=Path, help="model directory of the base model")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--alpha", type=float, default=0.1, help="training ratio of the whole data set (0.8 = all)")
    size.add_argument("--shots", type=int, help="exact number of training layouts (few-shot, e.g. 16)")
    p.add_argument("--freeze-front", action="store_true", help="keep the separate 2D stack's weights")
    p.add_argument("--from-scratch", action="store_true", help="random-init baseline (Table IV 'w/o')")
    p.add_argument("--recipe", choices=recipes.CHOICES, default="auto",
                   help=f"{recipes.HELP}; --lr overrides the rate")
    p.add_argument("--calibrate", choices=("placed", "labelled", "none"), default="placed",
                   help="calibrate the threshold for the design from the training labels (calibration.json; "
                        "docs/models.md): placed = the score quantile at their bad share on a seeded placer sample "
                        "(default), labelled = on the labelled layouts, none = keep the base's threshold")
    p.set_defaults(handler=finetune)

    p = sub.add_parser("evaluate", help="accuracy, precision, recall, F1, FOR of a model on labelled data")
    p.add_argument("--model", required=True, type=Path, help="model directory")
    p.add_argument("--data", required=True, type=Path, help="placements (.parquet/.jsonl) or features (.npy)")
    p.add_argument("--labels", required=True, type=Path,
                   help="labels (.npy, .parquet with a 'label' column, or a `placeq simulate` table)")
    p.add_argument("--features-cache", type=Path, help="float16 .npy cache of the rasterized features")
    p.add_argument(
        "--all", action="store_true", help="score every labelled layout, not the test split (automatic on other data)"
    )
    p.add_argument("--threshold", type=float, help="override the model's threshold")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.set_defaults(handler=evaluate)


def _load(args: argparse.Namespace, nofeat: bool) -> tuple[Any, np.ndarray]:
    from training.feed import load_features, load_labels

    x, data_design = load_features(args.data, nofeat=nofeat, cache=args.features_cache)
    y = load_labels(args.labels)
    if len(x) != len(y):
        raise InputError("labels", f"{len(y)} labels for {len(x)} layouts in {args.data}")
    design = getattr(args, "design", None)
    if design and data_design and data_design.lower() != design.lower():
        log.warning("--design %s but %s holds placements of %s", design, args.data, data_design)
    return x, y


def _load_values(args: argparse.Namespace, nofeat: bool) -> tuple[Any, np.ndarray, str]:
    """(features, values, metric) for `placeq finetune --values`: NaN marks a failed simulation."""
    from training.feed import load_features, read_values

    x, _ = load_features(args.data, nofeat=nofeat, cache=args.features_cache)
    values, metric = read_values(args.values)
    if len(x) != len(values):
        raise InputError("values", f"{len(values)} values for {len(x)} layouts in {args.data}")
    return x, values, metric


def _options(args: argparse.Namespace) -> Options:
    from training.pipeline import Options

    return Options(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.patience, balanced=args.balanced,
        seed=args.seed, threads=args.threads, device=args.device, recipe=getattr(args, "recipe", "auto"),
        from_scratch=bool(getattr(args, "from_scratch", False)),
        freeze_front=bool(getattr(args, "freeze_front", False)),
        target_for=args.target_for, prune_rate=args.prune_rate,
    )


def _split(args: argparse.Namespace, x: Any, y: np.ndarray, finetune: bool) -> dict[str, np.ndarray]:
    from training.splits import duplicate_groups, split_indices

    groups = duplicate_groups(x)  # copies of one layout stay on one side of the split
    if groups.max(initial=-1) + 1 < len(x):
        log.info("%d of %d layouts are copies of another; each is kept with its copies", len(x) - groups.max() - 1,
                 len(x))
    return split_indices(
        y,
        test_frac=args.test_frac,
        train_frac=args.alpha if finetune and args.shots is None else None,
        train_count=args.shots if finetune else None,
        val_frac=args.val_frac,
        seed=args.seed,
        groups=groups,
    )


def _provenance(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"data": str(args.data), "labels": str(args.labels), "split_seed": args.seed,
                           "test_frac": args.test_frac}
    if getattr(args, "values", None) is not None:
        out["values"] = str(args.values)
    if hasattr(args, "base"):
        out.update(base=str(args.base), alpha=args.alpha, shots=args.shots, from_scratch=args.from_scratch)
    return out


def _print_metrics(metrics: dict[str, float], threshold: float) -> None:
    keys = ("accuracy", "precision", "recall", "f1", "false_omission_rate", "prune_rate")
    for prefix in ("val_", "test_"):
        if f"{prefix}accuracy" in metrics:
            row = "  ".join(f"{k} {metrics[prefix + k]:.4f}" for k in keys)
            print(f"{prefix[:-1]:>5} @ {threshold:.3f}: {row}")
    if "train_accuracy" in metrics:
        print(f"train accuracy {metrics['train_accuracy']:.4f}")


def _print_written(out: Path) -> None:
    onnx = json.loads((out / SUMMARY).read_text())["onnx"]
    print(f"wrote {out} (onnx sha256 {onnx['sha256'][:12]}, |onnx - torch| {onnx['max_abs_diff_logit']:.1e})")


def train(args: argparse.Namespace) -> int:
    from training.fit import seed_everything
    from training.nets import build
    from training.pipeline import train_model

    seed_everything(args.seed)
    provenance = _provenance(args)
    if args.init is None:
        model = build(args.arch or DEFAULT_ARCHITECTURE)
    else:
        from training.checkpoint import load_checkpoint, weights_sha256

        init = load_checkpoint(args.init)
        if args.arch and args.arch != init.model.config.arch:
            raise InputError("arch", f"--arch {args.arch} but --init {args.init} is a {init.model.config.arch}")
        model = init.model
        provenance["init"] = {"path": str(args.init), "design": init.design, "sha256": weights_sha256(args.init)}
    x, y = _load(args, nofeat=model.config.input_kind == "nofeat")
    out, fitted = train_model(model, x, y, _split(args, x, y, finetune=False), args.out, design=args.design,
                              options=_options(args), provenance=provenance)
    _print_metrics(fitted.metrics, fitted.threshold)
    _print_written(out)
    return 0


def finetune(args: argparse.Namespace) -> int:
    from training.checkpoint import load_checkpoint
    from training.pipeline import finetune_model

    base = load_checkpoint(args.base)
    nofeat = base.model.config.input_kind == "nofeat"
    values, metric, provenance = None, "offset", _provenance(args)
    if args.values is None:
        x, y = _load(args, nofeat=nofeat)
        split = _split(args, x, y, finetune=True)
    else:  # as POST /finetune: the training layouts' own worst 25% are bad; every other row by that border
        import numpy as np

        from placeq.labels import critical_value, relabel

        x, values, metric = _load_values(args, nofeat)
        split = _split(args, x, np.where(np.isfinite(values), 0, -1), finetune=True)
        critical = critical_value(values[split["train"]], metric)
        y = relabel(values, critical, metric).astype(np.int64)
        provenance["critical_value"] = critical
        print(f"labelled by the {len(split['train'])} training layouts' own worst 25% of {metric}: critical value "
              f"{critical:.6g} ({int((y[split['train']] == 1).sum())} bad of them)")
    out, fitted = finetune_model(base, x, y, split, args.out, design=args.design, options=_options(args),
                                 provenance=provenance, values=values, metric=metric)
    _print_metrics(fitted.metrics, fitted.threshold)
    _print_written(out)
    if args.calibrate != "none":
        _calibrate(args, out, x, y, fitted.split["train"], fitted.threshold,
                   nofeat=base.model.config.input_kind == "nofeat")
    return 0


def _calibrate(args: argparse.Namespace, out: Path, x: Any, y: np.ndarray, train: np.ndarray, previous: float, *,
               nofeat: bool) -> None:
    """Issue 14 part 4: the threshold calibrated for the design from the training labels -> out/calibration.json,
    which `model_store.publish_model_dir` publishes as the version's threshold and `placeq evaluate` uses."""
    from placeq.circuits import load_design
    from placeq.errors import UnknownDesign
    from training.calibration import calibrate_model_dir
    from training.feed import Rows

    try:
        circuit = load_design(args.design)
    except UnknownDesign:
        circuit = None  # a free design name: nothing to place, the labelled rule decides
    cal = calibrate_model_dir(out, args.calibrate, circuit=circuit, x_labelled=Rows(x, train), labels=y[train],
                              previous=previous, nofeat=nofeat)
    print(f"threshold calibrated for {args.design}: {cal.threshold:.4f} ({cal.rule} rule, bad share "
          f"{cal.bad_share:.3f} of {cal.n_labelled} labelled, {cal.n_scored} scores; was {previous:.4f})"
          + (f"; {cal.note}" if cal.note else ""))


def evaluate(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from training.checkpoint import load_checkpoint, load_split
    from training.feed import Rows
    from training.fit import predict_proba
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
    from training.calibration import read_calibration

    calibrated = read_calibration(args.model)  # a fine-tune's threshold calibrated for its design, if any
    threshold = args.threshold if args.threshold is not None else (
        float(calibrated["threshold"]) if calibrated else ckpt.threshold)
    m = score(predict_proba(ckpt.model, Rows(x, rows)), y[rows], threshold)
    print(json.dumps({"model": str(args.model), "rows": "test split" if split else "all", **m.as_dict()}, indent=2))
    return 0
