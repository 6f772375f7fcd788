"""What an exploration of a design space found: every placement's score, the prune decision, the ranking.

One `Decision` for the explore job (`service.workers.explore`), its routes, `placeq explore` and
`placeq explore-loop`, so the API and the CLI say the same thing about the same scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from placeq.decision import best_first, prune_mask, score_histogram
from placeq.domain import Circuit
from placeq.errors import InputError
from placeq.labels import worst_quartile
from placeq.space import MAX_CRITICAL

EXTREMES = 5  # best and worst placements listed in a summary
MAX_EXPLORE = 65_536  # placements of one explore job (a 16-critical-net design's whole space)
FOR_RATES = tuple(k / 100 for k in range(1, 96))  # the pruning rates a FOR target chooses among
MIN_AUDIT = 8  # labelled layouts below which a FOR estimate says nothing


def space_size(circuit: Circuit, count: int | None) -> int:
    """Placements an exploration of `circuit` makes: `count`, at most the 2^k weightings; the whole space when
    `count` is None, if it is at most MAX_EXPLORE."""
    k = len(circuit.critical_nets)
    if k == 0:
        raise InputError("design", f"{circuit.name} has no critical nets: its design space is a single placement "
                                   "(give critical_nets when registering it)")
    total = 1 << k if k <= MAX_CRITICAL else None
    if count is None:
        if total is None or total > MAX_EXPLORE:
            raise InputError("count", f"{circuit.name}'s whole space is 2^{k} placements, more than {MAX_EXPLORE}: "
                                      "give a count to sample it")
        return total
    return count if total is None else min(count, total)


@dataclass(frozen=True)
class Decision:
    """The prune decision on a whole explored space: `prune` per placement and the ranking (`order`, best
    first, ties by position). A job stores the scores and the rule (`summary`), not these arrays: they are
    recomputed from them wherever they are needed (`from_result`), and come out the same."""

    scores: np.ndarray  # (B,) float64 P(worst quartile)
    prune: np.ndarray  # (B,) bool
    order: np.ndarray  # (B,) indices, best first
    threshold: float
    prune_rate: float | None

    @classmethod
    def of(cls, scores: np.ndarray | list[float], *, threshold: float, prune_rate: float | None) -> Decision:
        s = np.asarray(scores, dtype=np.float64)
        return cls(s, prune_mask(s, threshold, prune_rate), best_first(s), float(threshold), prune_rate)

    @classmethod
    def from_result(cls, result: dict[str, Any]) -> Decision:
        """The decision behind a stored result (`summary` fields plus ``scores``)."""
        return cls.of(result["scores"], threshold=result["threshold"], prune_rate=result["prune_rate"])

    def summary(self) -> dict[str, Any]:
        """Counts, the rule, score quantiles, a histogram of kept and pruned scores, the best and worst placements."""
        s, pruned, order = self.scores, self.prune, self.order

        def row(i: int) -> dict[str, Any]:
            return {"index": int(i), "score": float(s[i]), "prune": bool(pruned[i])}

        return {
            "placements": len(s),
            "kept": int((~pruned).sum()),
            "pruned": int(pruned.sum()),
            "rule": "threshold" if self.prune_rate is None else "rate",
            "threshold": self.threshold,
            "prune_rate": self.prune_rate,
            "score_quantiles": {f"p{q}": float(np.quantile(s, q / 100)) for q in (5, 25, 50, 75, 95)}
            if len(s) else {},
            "histogram": score_histogram(s, pruned),
            "best": [row(i) for i in order[:EXTREMES]],
            "worst": [row(i) for i in order[::-1][:EXTREMES]],
        }

    def select(self, which: str, limit: int | None = None, order_by: str = "best") -> list[int]:
        """Placement indices, best first (or worst first): the kept ones, the pruned ones, or all."""
        if which not in ("kept", "pruned", "all"):
            raise InputError("which", f"{which!r}: choose kept, pruned or all")
        if order_by not in ("best", "worst"):
            raise InputError("order", f"{order_by!r}: choose best or worst")
        order = self.order[::-1] if order_by == "worst" else self.order
        if which != "all":
            order = order[self.prune[order] == (which == "pruned")]
        return [int(i) for i in order[:limit]]

    def ranks(self) -> np.ndarray:
        """(B,) each placement's rank in the whole space, 0 = best."""
        out = np.empty(len(self.order), dtype=np.int64)
        out[self.order] = np.arange(len(self.order))
        return out

    def lines(self, rows: list[int], placement_json: Callable[[int], str], *, scored: bool) -> Iterator[str]:
        """JSON Lines of placements `rows`: bare placements (ready for /predict, /label, /finetune), or with
        `scored` each with its rank in the space, its index, score and decision."""
        rank = self.ranks() if scored else None
        for i in rows:
            if rank is None:
                yield placement_json(i) + "\n"
            else:
                yield (f'{{"rank":{int(rank[i])},"index":{i},"score":{float(self.scores[i])!r},'
                       f'"prune":{"true" if self.prune[i] else "false"},"placement":{placement_json(i)}}}\n')


def check_rule(prune_rate: float | None, for_target: float | None, audit: object | None) -> None:
    """An exploration prunes by the model's threshold, a rate, or a FOR target estimated on an audit: one rule,
    the same for `POST /designs/{name}/explore` and `placeq explore` (InputError naming the field)."""
    if for_target is not None and prune_rate is not None:
        raise InputError("for_target", "give prune_rate or for_target, not both")
    if (for_target is None) != (audit is None):
        raise InputError("audit", "for_target needs an audit (labelled layouts of the design), and an audit serves "
                                  "only for_target")


def audit_rows(values: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the audit layouts with a value, their bad flags: the worst quartile of those values); fewer
    than MIN_AUDIT values is an InputError naming `audit`."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(v))
    if len(ok) < MIN_AUDIT:
        raise InputError("audit", f"{len(ok)} audit layouts with a value: a FOR estimate needs {MIN_AUDIT} or more "
                                  "(label a random sample of the space)")
    return ok, worst_quartile(v[ok], metric) == 1


@dataclass(frozen=True)
class ForTarget:
    """The least pruning of a space whose false omission rate, estimated on labelled audit layouts, is at most
    `target`: a user says how many bad layouts may leak through, not how many to throw away.

    The FOR at rate r is the share of bad audit layouts among those the space's cut at r keeps (a layout is bad in
    the worst quartile of the audit's own values, as every label here is relative). Audit layouts must be ones the
    scoring model was not trained on, ideally a random sample of the space: on the layouts it was fine-tuned on,
    a model's FOR is optimistic. `upper_95` is the one-sided 95% Wilson bound: with 32 audit layouts the estimate
    is coarse, and the bound says how coarse."""

    target: float
    prune_rate: float  # the least rate meeting the target; where none does, the rate with the lowest FOR
    estimated_for: float
    upper_95: float
    met: bool
    audit: int  # audit layouts with a value
    audit_bad: int
    audit_kept: int  # of them, kept at `prune_rate`

    def record(self) -> dict[str, Any]:
        return asdict(self)


def wilson_upper(bad: int, n: int, z: float = 1.645) -> float:
    """One-sided upper confidence bound of a proportion bad / n (Wilson score interval)."""
    if n == 0:
        return 1.0
    p = bad / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z * z / n))


def rate_for_target(space_scores: np.ndarray | list[float], audit_scores: np.ndarray, audit_bad: np.ndarray,
                    target: float) -> ForTarget:
    """`ForTarget` for a space's scores, given the scores and bad flags of audit layouts scored by the same model.
    The cut at rate r is the score of the space's round(r * B)-th worst placement: audit layouts scoring at or
    above it count as pruned, as `prune_mask` prunes the space."""
    if len(audit_scores) < MIN_AUDIT:
        raise InputError("audit", f"{len(audit_scores)} audit layouts with a value: a FOR estimate needs "
                                  f"{MIN_AUDIT} or more (label a random sample of the space)")
    worst = np.sort(np.asarray(space_scores, dtype=np.float64))[::-1]
    a, bad = np.asarray(audit_scores, dtype=np.float64), np.asarray(audit_bad, dtype=bool)
    best: tuple[float, float, int, int] | None = None  # (FOR, rate, kept, bad kept)
    for rate in FOR_RATES:
        k = int(round(rate * len(worst)))
        kept = a < worst[k - 1] if k > 0 else np.ones(len(a), dtype=bool)
        n, b = int(kept.sum()), int(bad[kept].sum())
        f = b / n if n else 0.0
        if best is None or f < best[0]:
            best = (f, rate, n, b)
        if f <= target:
            break
    assert best is not None
    f, rate, n, b = best
    return ForTarget(target=target, prune_rate=rate, estimated_for=f, upper_95=wilson_upper(b, n), met=f <= target,
                     audit=len(a), audit_bad=int(bad.sum()), audit_kept=n)
