"""A per-design prune threshold, calibrated from the labels a fine-tune receives (issue 14, part 4).

Why: a model's stored threshold is a probability chosen on one design space; on another space of the same design
(another placer seed) every score shifts, so the same threshold prunes 8% where it pruned 39% (docs/models.md,
"Prune decisions across spaces"). A fine-tune knows two things about the design that the stored threshold does
not: how many of its labelled layouts are bad (the *bad share*), and the design itself. Two rules turn that
into a threshold, both a score quantile that prunes the bad share:

- ``labelled``: the quantile of the model's scores on the labelled layouts themselves. Needs nothing else, but
  rests on few scores (16 in the few-shot case) that the fine-tuned model has just been trained on.
- ``placed``: the quantile of the model's scores on a seeded sample of the design's own placements, made with the
  placer (``PLACED_COUNT`` layouts, seed ``PLACED_SEED``): many scores the model was not trained on; the labels
  only set the share.

`benchmarks/bench_calibration.py` measures both across placer seeds; ``DEFAULT_RULE`` is the one that held
better there. Neither makes a threshold carry to a space whose scores shifted: within a batch, `/predict`'s
``prune_rate`` does. A model directory carries its calibration in ``calibration.json`` (`placeq.artifact.
CALIBRATION`), which `model_store.publish_model_dir` publishes as the version's threshold and metrics.

numpy only at import time; the ``placed`` rule imports the placer (torch) when it runs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from placeq.artifact import CALIBRATION
from placeq.batch import PlacementBatch
from placeq.domain import Circuit
from placeq.errors import InputError
from training.metrics import as_probability_threshold, choose_threshold

log = logging.getLogger(__name__)

Rule = Literal["labelled", "placed"]
RULES: tuple[Rule, ...] = ("labelled", "placed")
DEFAULT_RULE: Rule = "placed"
PLACED_COUNT = 512  # placements scored by the "placed" rule
PLACED_SEED = 0
MIN_PLACED = 32  # fewer distinct placements than this (a tiny design space): fall back to "labelled"
SCORE_CHUNK = 256  # placements rasterized and scored at a time (295 KB of features each)

Scorer = Callable[[np.ndarray], np.ndarray]  # (B, C, 64, 64) float32 features -> (B,) probabilities


@dataclass(frozen=True)
class Calibration:
    """A calibrated threshold and how it was made (what the model store records beside it)."""

    threshold: float
    rule: Rule
    bad_share: float  # the share of the labelled layouts that are bad: what the threshold prunes on its scores
    n_labelled: int
    n_scored: int  # scores the quantile was taken on
    previous_threshold: float  # the model's threshold before calibration (the base's)
    seed: int | None = None  # placer seed of the "placed" rule
    note: str = ""

    def record(self) -> dict[str, Any]:
        return asdict(self)


def bad_share(labels: np.ndarray) -> float:
    """Share of bad (1) among the labelled (0/1) layouts; -1 (unused) is left out."""
    y = np.asarray(labels).reshape(-1)
    used = y[y >= 0]
    if used.size == 0:
        raise InputError("labels", "no labelled layouts to calibrate the threshold on")
    share = float(np.mean(used == 1))
    if not 0.0 < share < 1.0:
        raise InputError("labels", f"the labelled layouts are all {'bad' if share else 'good'}; a threshold needs both")
    return share


def quantile_threshold(scores: np.ndarray, share: float) -> float:
    """The probability threshold that prunes round(share * n) of `scores` (fewer when ties straddle the cut)."""
    return as_probability_threshold(choose_threshold(np.asarray(scores, dtype=np.float64), prune_rate=share))


def calibrate_labelled(scores: np.ndarray, labels: np.ndarray, *, previous: float) -> Calibration:
    """The ``labelled`` rule: the scores of the labelled layouts at their own bad share."""
    y = np.asarray(labels).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(s) != len(y):
        raise InputError("labels", f"{len(y)} labels for {len(s)} scores")
    share = bad_share(y)
    used = s[y >= 0]
    return Calibration(threshold=quantile_threshold(used, share), rule="labelled", bad_share=share,
                       n_labelled=len(used), n_scored=len(used), previous_threshold=previous)


def placed_scores(circuit: Circuit, score: Scorer, *, nofeat: bool, count: int = PLACED_COUNT,
                  seed: int = PLACED_SEED) -> np.ndarray:
    """Scores of `count` placements of `circuit` made with the placer (seeded; one process, as in a worker)."""
    from training.placer.config import PlacerConfig
    from training.placer.space import distinct_rows, generate_space

    batch, _ = generate_space(circuit, count=count, seed=seed, config=PlacerConfig(workers=1))
    return score_batch(score, batch.take(distinct_rows(batch)), nofeat=nofeat)


def score_batch(score: Scorer, batch: PlacementBatch, *, nofeat: bool = False) -> np.ndarray:
    """Scores of every placement of `batch`, rasterized SCORE_CHUNK at a time (`placeq.features.iter_rasterize`)."""
    from placeq.features import iter_rasterize

    return np.concatenate([score(x) for x in iter_rasterize(batch, nofeat=nofeat, chunk=SCORE_CHUNK)]
                          or [np.zeros(0)]).astype(np.float64)


def calibrate_placed(scores_placed: np.ndarray, labels: np.ndarray, *, previous: float,
                     seed: int = PLACED_SEED) -> Calibration:
    """The ``placed`` rule: the scores of the placer's sample at the labelled layouts' bad share."""
    y = np.asarray(labels).reshape(-1)
    share = bad_share(y)
    return Calibration(threshold=quantile_threshold(scores_placed, share), rule="placed", bad_share=share,
                       n_labelled=int(np.sum(y >= 0)), n_scored=len(scores_placed), previous_threshold=previous,
                       seed=seed)


class Features(Protocol):
    """What the labelled layouts' features come as: an array, or `training.feed.Rows` (indexed by row numbers)."""

    def __len__(self) -> int: ...

    def __getitem__(self, idx: np.ndarray) -> np.ndarray: ...


def score_features(score: Scorer, x: Features) -> np.ndarray:
    """Scores of every row of `x`, SCORE_CHUNK rows at a time (a split of a float16 memmap stays on disk)."""
    out = np.empty(len(x), dtype=np.float64)
    for start in range(0, len(x), SCORE_CHUNK):
        rows = np.arange(start, min(start + SCORE_CHUNK, len(x)))
        out[rows] = score(np.asarray(x[rows], dtype=np.float32))
    return out


def calibrate(rule: Rule, *, circuit: Circuit | None, score: Scorer, x_labelled: Features, labels: np.ndarray,
              previous: float, nofeat: bool, count: int = PLACED_COUNT, seed: int = PLACED_SEED) -> Calibration:
    """Calibrate by `rule`; ``placed`` falls back to ``labelled`` (and says so in `note`) without a circuit to
    place, or when its design space holds fewer than MIN_PLACED distinct placements."""
    if rule not in RULES:
        raise InputError("calibrate", f"{rule!r} is not one of {RULES}")
    note = ""
    if rule == "placed" and circuit is None:
        note = "placed: no circuit to place (the design is neither built in nor a circuit file); labelled rule used"
    elif rule == "placed" and circuit is not None:
        try:
            s = placed_scores(circuit, score, nofeat=nofeat, count=count, seed=seed)
        except InputError as exc:  # a circuit the placer refuses: still calibrate, on the labelled layouts
            note = f"placed: the placer refused the design ({exc}); labelled rule used"
        else:
            if len(s) >= MIN_PLACED:
                return calibrate_placed(s, labels, previous=previous, seed=seed)
            note = f"placed: the design space holds {len(s)} distinct placements (< {MIN_PLACED}); labelled rule used"
    if note:
        log.warning(note)
    labelled = calibrate_labelled(score_features(score, x_labelled), labels, previous=previous)
    return Calibration(**{**asdict(labelled), "note": note})


def onnx_scorer(model_dir: Path) -> Scorer:
    """Score with the directory's ONNX file in onnxruntime: the scores the service will serve."""
    import onnxruntime as ort

    from placeq.artifact import ONNX

    session = ort.InferenceSession(str(Path(model_dir) / ONNX), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    output = "probability" if "probability" in names else names[0]
    input_name = session.get_inputs()[0].name

    def score(x: np.ndarray) -> np.ndarray:
        raw = np.asarray(session.run([output], {input_name: np.asarray(x, dtype=np.float32)})[0]).reshape(len(x))
        return raw if output == "probability" else 1.0 / (1.0 + np.exp(-raw))

    return score


def write_calibration(model_dir: Path, calibration: Calibration) -> Path:
    """Record the calibration in the model directory (`placeq.artifact.CALIBRATION`)."""
    path = Path(model_dir) / CALIBRATION
    path.write_text(json.dumps(calibration.record(), indent=2) + "\n")
    return path


def read_calibration(model_dir: Path) -> dict[str, Any] | None:
    """The directory's calibration record, or None when it has none."""
    path = Path(model_dir) / CALIBRATION
    if not path.exists():
        return None
    record: dict[str, Any] = json.loads(path.read_text())
    return record


def calibrate_model_dir(model_dir: Path, rule: Rule, *, circuit: Circuit | None, x_labelled: Features,
                        labels: np.ndarray, previous: float, nofeat: bool, count: int = PLACED_COUNT,
                        seed: int = PLACED_SEED) -> Calibration:
    """Calibrate the directory's model (scored through its ONNX file) and write calibration.json beside it."""
    cal = calibrate(rule, circuit=circuit, score=onnx_scorer(model_dir), x_labelled=x_labelled, labels=labels,
                    previous=previous, nofeat=nofeat, count=count, seed=seed)
    write_calibration(model_dir, cal)
    log.info("threshold calibrated: %.4f (%s rule, bad share %.3f, %d scores; was %.4f)", cal.threshold, cal.rule,
             cal.bad_share, cal.n_scored, cal.previous_threshold)
    return cal
