"""Binary quality labels from simulated metrics, as the paper labels (Sec. III-A, IV-B, IV-C).

"Worst" means largest |offset| for the offset metric and LOWEST CMRR for the CMRR metric. A layout is labelled 1
("prune") when it is in the worst 25% of its design space. Training the base model uses a balanced set: worst 25%
-> 1, best 25% -> 0, the middle half dropped. Few-shot fine-tuning labels new data with a critical value fixed from
the (small) training sample, so `critical_value` + `relabel` keep the two steps apart. NaN values (failed
simulations) are never labelled: they get -1 and are left out of `balanced`.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from placeq.errors import InputError

Metric = Literal["offset", "cmrr"]
# balanced: best q -> 0, worst q -> 1, rest unused (the base model's set, Sec. IV-B); quartile: worst q -> 1, rest 0
LabelMode = Literal["balanced", "quartile"]
LABEL_MODES: tuple[str, ...] = get_args(LabelMode)
UNLABELLED = -1


def badness(values: np.ndarray, metric: str) -> np.ndarray:
    """(B,) float64 where larger is worse: |offset|, or -CMRR."""
    v = np.asarray(values, dtype=np.float64)
    if metric == "offset":
        return np.abs(v)
    if metric == "cmrr":
        return -v
    raise InputError("metric", f"must be 'offset' or 'cmrr', got {metric!r}")


def critical_value(train_values: np.ndarray, metric: str, q: float = 0.25) -> float:
    """The metric value at the border of the worst fraction q of `train_values` (NaN ignored)."""
    if not 0.0 < q < 1.0:
        raise InputError("q", f"must lie in (0, 1), got {q}")
    bad = badness(train_values, metric)
    bad = bad[np.isfinite(bad)]
    if bad.size == 0:
        raise InputError("train_values", "no finite values")
    border = float(np.quantile(bad, 1.0 - q))
    return border if metric == "offset" else -border


def relabel(values: np.ndarray, critical: float, metric: str) -> np.ndarray:
    """(B,) int8: 1 where worse than `critical` (|offset| >= critical, or CMRR <= critical), else 0; NaN -> -1."""
    bad = badness(values, metric)
    border = critical if metric == "offset" else -critical
    out = np.where(bad >= border, 1, 0).astype(np.int8)
    out[~np.isfinite(bad)] = UNLABELLED
    return out


def worst_quartile(values: np.ndarray, metric: str = "offset", q: float = 0.25) -> np.ndarray:
    """(B,) int8: 1 for the worst fraction q of the values, 0 for the rest, -1 for NaN (paper Sec. III-A)."""
    return relabel(values, critical_value(values, metric, q), metric)


def balanced(values: np.ndarray, metric: str = "offset", q: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """(indices, labels): the worst fraction q labelled 1 and the best fraction q labelled 0, middle dropped.

    Indices are sorted ascending. Ties at a border follow the rank order, so exactly round(q * n) of the n finite
    values land on each side.
    """
    bad = badness(values, metric)
    finite = np.flatnonzero(np.isfinite(bad))
    k = int(round(q * finite.size))
    if not 0.0 < q <= 0.5:
        raise InputError("q", f"must lie in (0, 0.5], got {q}")
    order = finite[np.argsort(bad[finite], kind="stable")]  # best first
    best, worst = order[:k], order[finite.size - k:]
    idx = np.concatenate([best, worst])
    lab = np.concatenate([np.zeros(k, dtype=np.int8), np.ones(k, dtype=np.int8)])
    sort = np.argsort(idx, kind="stable")
    return idx[sort], lab[sort]


def label_array(values: np.ndarray, metric: str, mode: str = "quartile", q: float = 0.25) -> np.ndarray:
    """(B,) int8 training labels of every layout in `mode` (see `LabelMode`); unused or failed layouts get -1."""
    if mode == "quartile":
        return worst_quartile(values, metric, q)
    if mode != "balanced":
        raise InputError("mode", f"unknown label mode {mode!r}; choose {', '.join(LABEL_MODES)}")
    idx, lab = balanced(values, metric, q)
    y = np.full(len(values), UNLABELLED, dtype=np.int8)
    y[idx] = lab
    return y
