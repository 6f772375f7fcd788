"""Audit layouts: a label job's placements and values that no model was trained on (issue 17).

An explore job estimates the FOR of a pruning rate on them (`placeq.explore.rate_for_target`), and
`GET /designs/{name}/progress` scores them with every model version of the design, so a user sees the few-shot
model improve (or not) as labels arrive. Bad is the worst quartile of the audit's own values, as every label here
is relative. An audit is best a random sample of the explored space (suggest with ``strategy=random``), kept out
of every fine-tune: on layouts it was trained on, a model looks better than it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from model_store import JobNotFound, ModelStore, ModelVersion
from placeq.artifact import BASE_DESIGN
from placeq.batch import PlacementBatch
from placeq.decision import prune_mask
from placeq.explore import audit_rows
from service.payloads import check_audit, label_placements

Score = Callable[[ModelVersion, PlacementBatch], np.ndarray]  # P(worst quartile) of a batch under a version


class AuditNotFound(JobNotFound):
    """The audit job does not exist: a 404 whose message names the field."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.args = (f"audit: no job has id {job_id!r}",)


@dataclass(frozen=True)
class Audit:
    job_id: str
    batch: PlacementBatch  # the placements that have a value
    values: np.ndarray
    bad: np.ndarray  # (n,) bool: the worst quartile of `values`
    metric: str


def read_audit(store: ModelStore, job_id: str, design: str) -> Audit:
    """The audit label job `job_id` of `design`; InputError naming `audit` when it cannot serve as one."""
    try:
        job = store.get_job(job_id)
    except JobNotFound:
        raise AuditNotFound(job_id) from None
    check_audit(job, design)
    result = job.result or {}
    values = np.array([np.nan if v is None else float(v) for v in result.get("values", [])])
    metric = str(result.get("metric", "offset"))
    ok, bad = audit_rows(values, metric)
    return Audit(job_id, label_placements(store, job).take(ok), values[ok], bad, metric)


def labels_used(store: ModelStore, versions: list[ModelVersion]) -> dict[tuple[str, int], int | None]:
    """Labelled layouts of the design behind each version: what its fine-tune job trained on (the job's result
    says) plus its parent's (a chain of fine-tunes adds up); 0 for the base model; None where it is not known (a
    version published from a model directory, a purged job, a job from before results said)."""
    by_ref = {(v.design, v.version): v for v in versions}
    made_by = {v.created_by.removeprefix("job:"): (v.design, v.version) for v in versions
               if v.created_by.startswith("job:")}
    own: dict[tuple[str, int], int | None] = {  # the base model knows no label of this design
        key: 0 if v.design == BASE_DESIGN and v.parent is None else None for key, v in by_ref.items()}
    for job in store.get_jobs(list(made_by), with_payload=False, missing_ok=True):  # one query, results only
        n = (job.result or {}).get("labels")
        own[made_by[job.id]] = n if isinstance(n, int) else None

    def total(key: tuple[str, int]) -> int | None:
        v = by_ref[key]
        mine = own[key]
        if mine is None or v.parent is None:
            return mine
        parent = (v.parent.design, v.parent.version)
        if parent not in by_ref:
            return mine if v.parent.design != v.design else None
        before = total(parent)
        return None if before is None else mine + before

    return {key: total(key) for key in by_ref}


def for_at(scores: np.ndarray, bad: np.ndarray, prune_rate: float) -> float:
    """False omission rate of pruning `prune_rate` of the audit by `scores`: bad layouts among those kept."""
    kept = ~prune_mask(scores, 1.0, prune_rate)
    return float(bad[kept].sum() / max(int(kept.sum()), 1))


def progress(audit: Audit, versions: list[ModelVersion], labels: dict[tuple[str, int], int | None], score: Score,
             prune_rate: float, live: set[tuple[str, int]]) -> dict[str, Any]:
    """Each version's FOR on the audit at `prune_rate`, with the labels it was trained on, in version order."""
    rows = []
    for v in versions:
        s = score(v, audit.batch)
        rows.append({"design": v.design, "version": v.version, "labels": labels.get((v.design, v.version)),
                     "live": (v.design, v.version) in live, "created_at": v.created_at.isoformat(),
                     "for": for_at(s, audit.bad, prune_rate)})
    return {"audit_job": audit.job_id, "audit": len(audit.values), "audit_bad": int(audit.bad.sum()),
            "metric": audit.metric, "prune_rate": prune_rate,
            "random_pruning": float(audit.bad.mean()), "versions": rows}
