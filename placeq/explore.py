"""What an exploration of a design space found: every placement's score, the prune decision, the ranking.

One summary for the explore job (`service.workers.explore`) and `placeq explore`, so the API and the CLI say the
same thing about the same scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from placeq.decision import best_first, prune_mask, score_histogram
from placeq.domain import Circuit
from placeq.errors import InputError

EXTREMES = 5  # best and worst placements listed in a summary
MAX_EXPLORE = 65_536  # placements of one explore job (a 16-critical-net design's whole space)


def space_size(circuit: Circuit, count: int | None) -> int:
    """Placements an exploration of `circuit` makes: `count`, at most the 2^k weightings; the whole space when
    `count` is None, if it is at most MAX_EXPLORE."""
    k = len(circuit.critical_nets)
    if k == 0:
        raise InputError("design", f"{circuit.name} has no critical nets: its design space is a single placement "
                                   "(give critical_nets when registering it)")
    total = 1 << k if k < 63 else None
    if count is None:
        if total is None or total > MAX_EXPLORE:
            raise InputError("count", f"{circuit.name}'s whole space is 2^{k} placements, more than {MAX_EXPLORE}: "
                                      "give a count to sample it")
        return total
    return count if total is None else min(count, total)


def decide(scores: np.ndarray, *, threshold: float, prune_rate: float | None) -> dict[str, Any]:
    """The decision on a whole explored space and its summary: `prune` per placement, `ranking` (best first),
    counts, the rule, a score histogram of kept and pruned layouts and the best and worst placements."""
    scores = np.asarray(scores, dtype=np.float64)
    pruned = prune_mask(scores, threshold, prune_rate)
    order = best_first(scores)
    kept_rank = order[~pruned[order]]

    def row(i: int) -> dict[str, Any]:
        return {"index": int(i), "score": float(scores[i]), "prune": bool(pruned[i])}

    return {
        "placements": len(scores),
        "kept": int((~pruned).sum()),
        "pruned": int(pruned.sum()),
        "rule": "threshold" if prune_rate is None else "rate",
        "threshold": float(threshold),
        "prune_rate": prune_rate,
        "score_quantiles": {f"p{q}": float(np.quantile(scores, q / 100)) for q in (5, 25, 50, 75, 95)}
        if len(scores) else {},
        "histogram": score_histogram(scores, pruned),
        "best": [row(i) for i in order[:EXTREMES]],
        "worst": [row(i) for i in order[::-1][:EXTREMES]],
        "prune": pruned.tolist(),
        "ranking": order.tolist(),
        "survivors": kept_rank.tolist(),
    }


def select(result: dict[str, Any], which: str, limit: int | None = None, order_by: str = "best") -> list[int]:
    """Placement indices of a `decide` result, best first (or worst first): the kept ones, the pruned ones, or all."""
    if which not in ("kept", "pruned", "all"):
        raise InputError("which", f"{which!r}: choose kept, pruned or all")
    if order_by not in ("best", "worst"):
        raise InputError("order", f"{order_by!r}: choose best or worst")
    prune = np.asarray(result["prune"], dtype=bool)
    order = np.asarray(result["ranking"], dtype=np.int64)
    if order_by == "worst":
        order = order[::-1]
    if which != "all":
        order = order[prune[order] == (which == "pruned")]
    return [int(i) for i in order[:limit]]


def ranks(result: dict[str, Any]) -> np.ndarray:
    """(B,) each placement's rank in the whole space, 0 = best."""
    order = np.asarray(result["ranking"], dtype=np.int64)
    out = np.empty(len(order), dtype=np.int64)
    out[order] = np.arange(len(order))
    return out


def line(placement_json: str, *, scored: bool, rank: int, index: int, score: float, prune: bool) -> str:
    """One JSON Lines row: the bare placement (ready for /predict, /label, /finetune), or with `scored` the
    placement with its rank in the space, its index and score."""
    if not scored:
        return placement_json + "\n"
    return (f'{{"rank":{rank},"index":{index},"score":{float(score)!r},"prune":{"true" if prune else "false"},'
            f'"placement":{placement_json}}}\n')
