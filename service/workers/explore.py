"""Explore jobs: generate a design's space with the placer, score every placement, keep the best (issue 17).

The parent job fixes the model (the design's live version, else the base model, or the pinned one) and splits the
space into `explore_chunk` jobs of `Settings.explore_chunk_placements` (`service.workers.chunks`: claimed,
heartbeated, retried and taken over like label chunks). A chunk places its slice of the space (the placer is
deterministic per subset id, so a slice is the same whichever worker places it), scores it with the parent's
model and finishes with its scores in its result and its placements in parts beside it (`ModelStore.finish(parts=)`,
the layout of a columnar label job), so the parent's result stays small. The parent then decides on the whole
space at once (`placeq.explore.Decision`): a pruning rate is a share of the whole space, not of each chunk.

`GET /designs/{name}/explore/{id}` reads the parent's summary; `.../placements` streams the placements from the
chunks' parts, best first (`service.api.routes.explore`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

from model_store import Job, JobNotFound, ModelStore, ModelVersion
from placeq.domain import Circuit
from placeq.errors import InputError
from placeq.explore import Decision, ForTarget, rate_for_target, space_size
from service.audit import read_audit
from service.payloads import ExploreChunkPayload, ExplorePayload, columns_job
from service.settings import Settings
from service.workers.chunks import EXPLORE_CHUNK_KIND, ChunkPlan, run_chunked
from service.workers.runner import JobContext, JobFailed, Output, base_version, circuit_for

if TYPE_CHECKING:
    from placeq.batch import PlacementBatch
    from service.scoring import LoadedModel

Progress = Callable[[float, str], None]
STRUCTURE = ("design", "devices", "kinds", "tags", "pin_device", "pin_terminal", "pin_net")


def place_slice(circuit: Circuit, *, count: int | None, seed: int, start: int, stop: int,
                progress: Callable[[int, int], None] | None = None) -> tuple[PlacementBatch, np.ndarray]:
    """Placements `start` to `stop` - 1 of the space `placeq place --count count --seed seed` makes, and their
    subset ids: the same rows, placed in this process (a worker is one process)."""
    from placeq.space import space_ids
    from training.placer.config import PlacerConfig
    from training.placer.space import generate_space

    ids = space_ids(len(circuit.critical_nets), count, seed)[start:stop]
    batch, _ = generate_space(circuit, count=None, seed=seed, config=PlacerConfig(workers=1), ids=ids,
                              progress=progress)
    return batch, ids


def score_placements(model: LoadedModel, batch: PlacementBatch) -> np.ndarray:
    """P(worst quartile) of every placement, rasterized a block at a time."""
    from training.calibration import score_batch

    return score_batch(model.predict, batch, nofeat=model.input_kind == "nofeat")


def explore_job(store: ModelStore, job: Job, progress: Progress, settings: Settings, ctx: JobContext) -> dict[str, Any]:
    """Split the space into chunks, run them (here and on every idle worker), decide on the whole space."""
    p = ExplorePayload.model_validate(job.payload)
    circuit = circuit_for(store, job.design)
    try:
        n = space_size(circuit, p.count)
    except InputError as exc:
        raise JobFailed(str(exc)) from exc
    version = base_version(store, job.design, p.version, to="score with")  # every chunk scores with this one
    audit = audit_scores(store, p.audit, job.design, version) if p.audit is not None else None
    progress(0.0, f"{n} placements to place and score with {version.design} v{version.version}")
    plan = ChunkPlan(EXPLORE_CHUNK_KIND, n, settings.explore_chunk_placements, partial(join, p, version, audit),
                     "placed and scored",
                     {"count": p.count, "seed": p.seed, "model_design": version.design,
                      "model_version": version.version})
    return run_chunked(store, job, progress, settings, ctx, plan)


def scorer(store: ModelStore, v: ModelVersion) -> LoadedModel:
    from service.scoring import load_model

    return load_model(store.blobs.get(v.sha256), design=v.design, version=v.version, sha256=v.sha256,
                      threshold=v.threshold)


def audit_scores(store: ModelStore, audit: str, design: str, version: ModelVersion) -> tuple[np.ndarray, np.ndarray]:
    """The scores (under `version`) and bad flags of an audit label job's layouts: what a FOR target is
    estimated on (`service.audit`)."""
    try:
        a = read_audit(store, audit, design)
    except (InputError, ValidationError, JobNotFound) as exc:
        raise JobFailed(str(exc)) from exc
    return score_placements(scorer(store, version), a.batch), a.bad


def explore_chunk_job(store: ModelStore, job: Job, progress: Progress, settings: Settings,
                      ctx: JobContext) -> Output:
    """Place and score one slice; the placements go in parts beside the result, written when it finishes."""
    p = ExploreChunkPayload.model_validate(job.payload)
    circuit = circuit_for(store, job.design)
    model = scorer(store, store.get_version(p.model_design, p.model_version))
    n = p.stop - p.start

    def placed(done: int, _total: int) -> None:
        progress(0.8 * done / n, f"{done}/{n} placed")

    t0 = time.perf_counter()
    batch, ids = place_slice(circuit, count=p.count, seed=p.seed, start=p.start, stop=p.stop, progress=placed)
    t1 = time.perf_counter()
    scores = score_placements(model, batch)
    t2 = time.perf_counter()
    progress(1.0, f"{n} placed and scored")
    structure, parts = columns_job(batch)
    shifted = [(a + p.start, b + p.start, text) for a, b, text in parts]  # the parent's placement indices
    result = {"start": p.start, "stop": p.stop, "scores": scores.tolist(), "subsets": ids.tolist(),
              "structure": structure.model_dump(mode="json", include=set(STRUCTURE)),
              "seconds": {"place": round(t1 - t0, 3), "score": round(t2 - t1, 3),
                          "pack": round(time.perf_counter() - t2, 3)}}
    return Output(result, shifted)


def join(p: ExplorePayload, version: ModelVersion, audit: tuple[np.ndarray, np.ndarray] | None,
         chunks: list[Job]) -> dict[str, Any]:
    """The parent's result: the decision on the whole space, where each placement is, what scored it. With a FOR
    target, the rate is the least that meets it on the audit layouts, and the result says so."""
    parts = [c.result or {} for c in chunks]
    structures = [r.get("structure") for r in parts]
    if any(s != structures[0] for s in structures):
        raise JobFailed("the chunks placed different structures of one design (was it re-registered meanwhile?)")
    scores = [s for r in parts for s in r["scores"]]
    target: ForTarget | None = None
    if audit is not None and p.for_target is not None:
        try:
            target = rate_for_target(scores, *audit, p.for_target)
        except InputError as exc:
            raise JobFailed(str(exc)) from exc
    rate = target.prune_rate if target is not None else p.prune_rate
    summary = Decision.of(scores, threshold=version.threshold, prune_rate=rate).summary()
    if target is not None:
        summary.update(rule="for_target", for_target={**target.record(), "audit_job": p.audit})
    return {  # the decision's arrays are not stored: `Decision.from_result` recomputes them from scores and rule
        **summary,
        "model": {"design": version.design, "version": version.version, "sha256": version.sha256,
                  "threshold": version.threshold},
        "seed": p.seed,
        "count": p.count,
        "scores": scores,
        "subsets": [s for r in parts for s in r["subsets"]],
        "structure": structures[0],
        "chunks": [{"id": c.id, "start": r["start"], "stop": r["stop"], "worker": c.worker,
                    "seconds": r.get("seconds")} for c, r in zip(chunks, parts, strict=True)],
        "seconds": {stage: round(sum(r.get("seconds", {}).get(stage, 0.0) for r in parts), 3)  # worker-seconds
                    for stage in ("place", "score", "pack")},
    }
