"""Design-space exploration as a job: generate placements, score them all, keep the best (issue 17).

`POST /designs/{name}/explore` queues an explore job (`service.workers.explore`); `GET .../explore/{id}` is its
summary; `GET .../explore/{id}/placements` streams the placements as JSON Lines, best first, each line a
placement as `/predict`, `/label` and `/finetune` take it (or, with `scored=true`, with its rank and score);
`GET .../explore/{id}/suggest` the k placements to label next (`placeq.suggest`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from model_store import AliasNotFound, Job, JobNotFound, JobState, ModelStore, ModelVersion
from placeq.artifact import BASE_DESIGN
from placeq.batch import PlacementBatch
from placeq.columns import batch_from_columns
from placeq.errors import InputError
from placeq.explore import Decision, space_size
from placeq.features import rasterize_batch
from placeq.suggest import DEFAULT_STRATEGY, Strategy, suggest
from service.api.auth import ADMIN, PREDICT
from service.api.deps import RuntimeDep, StoreDep
from service.api.gate import GatedRoute
from service.api.resolve import get_circuit
from service.api.schemas import DesignPath, ExploreOut, ExploreRequest, JobOut, ProgressOut
from service.api.submit import ACCEPTED, submit_job
from service.audit import AuditNotFound, labels_used, progress, read_audit
from service.payloads import MAX_JOB_PLACEMENTS, check_audit
from service.scoring import LiveRef

router = APIRouter(tags=["explore"], route_class=GatedRoute)
KIND = "explore"
SUMMARY_FIELDS = ("placements", "kept", "pruned", "rule", "threshold", "prune_rate", "model", "seed",
                  "score_quantiles", "histogram", "best", "worst", "seconds", "for_target")
MAX_PROGRESS_VERSIONS = 20  # the newest versions a progress chart scores (each scores every audit layout)
Which = Literal["kept", "pruned", "all"]
NDJSON = "application/x-ndjson"


@router.post("/designs/{name}/explore", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut,
             responses={**ACCEPTED, 409: {"description": "No live model for the design and no base model"}},
             dependencies=[ADMIN])
def explore(name: DesignPath, body: ExploreRequest, runtime: RuntimeDep, request: Request,
            response: Response) -> JobOut:
    """Place `count` critical-net weightings of the design (all 2^k by default, up to 65,536) with the placer,
    score every placement with the design's live model (or `version`), and prune `prune_rate` of the space, the
    worst-scored first, or those at or above the model's threshold. Chunked over the workers like a label job."""
    circuit = get_circuit(runtime.store, name)
    space_size(circuit, body.count)  # 422 naming `design` or `count` now, not a failed job later
    if body.version is not None:
        runtime.store.get_version(name, body.version)  # 404 now
    else:
        try:
            runtime.store.resolve(name, fallback=BASE_DESIGN)
        except AliasNotFound:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                f"version: no live model for {name!r} and no base model to score with; activate a "
                                "version (POST /models/{design}/{version}/activate) or give one") from None
    if body.audit is not None:
        try:
            audit = runtime.store.get_jobs([body.audit], with_payload=False, with_result=False)[0]
        except JobNotFound:
            raise AuditNotFound(body.audit) from None
        check_audit(audit, name)
    return submit_job(KIND, name, body.payload().model_dump(mode="json"), body.idempotency_key, runtime, request,
                      response)


def _explore_job(store: ModelStore, name: str, job_id: str) -> Job:
    job = store.get_jobs([job_id], with_payload=False)[0]
    if job.kind != KIND or job.design != name:
        raise JobNotFound(job_id)
    return job


@router.get("/designs/{name}/explore/{job_id}", response_model=ExploreOut, response_model_exclude_none=True,
            responses={404: {"description": "No explore job of this design has this id"}}, dependencies=[PREDICT])
def explore_summary(name: DesignPath, job_id: str, store: StoreDep, request: Request) -> ExploreOut:
    """The job's state; once it has succeeded, what it found: counts, the rule, a score histogram, the best and
    worst placements."""
    job = _explore_job(store, name, job_id)
    found = {k: v for k, v in (job.result or {}).items() if k in SUMMARY_FIELDS}
    return ExploreOut(
        id=job.id, design=job.design, state=job.state.value, progress=job.progress, error=job.error,
        job_url=str(request.url_for("get_job", job_id=job.id)),
        placements_url=str(request.url_for("explore_placements", name=name, job_id=job.id)), **found,
    )


def read_placements(store: ModelStore, result: dict[str, Any], rows: list[int]) -> Callable[[int], str]:
    """Placement `i` (of `rows`) as JSON, read from the chunks' parts: only the parts that hold one of `rows` are
    fetched and parsed (256 placements each), and only those rows are validated, as `/predict` validates."""
    wanted = np.unique(np.asarray(rows, dtype=np.int64))
    boxes: list[Any] = []
    pin_boxes: list[Any] = []
    found: list[int] = []
    for chunk in result["chunks"]:
        inside = wanted[(wanted >= chunk["start"]) & (wanted < chunk["stop"])]
        if not len(inside):
            continue
        for a, b, text in store.job_parts(chunk["id"], int(inside[0]), int(inside[-1]) + 1):
            here = inside[(inside >= a) & (inside < b)]
            if len(here):
                part = json.loads(text)
                boxes += [part["boxes"][i - a] for i in here]
                pin_boxes += [part["pin_boxes"][i - a] for i in here]
                found += here.tolist()
    if not found:
        return lambda i: ""  # no rows asked for
    batch = batch_from_columns(**result["structure"], boxes=boxes, pin_boxes=pin_boxes if pin_boxes[0] else None)
    at = {i: k for k, i in enumerate(found)}
    return lambda i: batch.placement(at[i]).model_dump_json()


@router.get("/designs/{name}/explore/{job_id}/placements", response_class=StreamingResponse,
            responses={200: {"content": {NDJSON: {}}, "description": "One placement per line, best first"},
                       404: {"description": "No explore job of this design has this id"},
                       409: {"description": "The job has not succeeded (yet)"}},
            dependencies=[PREDICT])
def explore_placements(
    name: DesignPath, job_id: str, store: StoreDep,
    which: Annotated[Which, Query(description="kept (default), pruned, or all placements")] = "kept",
    limit: Annotated[int | None, Query(ge=1, description="At most this many, the best first")] = None,
    order: Annotated[Literal["best", "worst"], Query(description="best first (default) or worst first")] = "best",
    scored: Annotated[bool, Query(description="Lines of {rank, index, score, prune, placement} instead of "
                                              "bare placements")] = False,
) -> StreamingResponse:
    """The explored placements as JSON Lines, best first (or worst first): ready for `/predict`, `/label` (the next
    layouts to simulate) or the layout tool."""
    result, decision = _succeeded(store, name, job_id)
    return _stream(store, result, decision, decision.select(which, limit, order), scored)


def _succeeded(store: ModelStore, name: str, job_id: str) -> tuple[dict[str, Any], Decision]:
    """The result of a succeeded explore job of `name` and its decision (404 for another id, 409 while it is not
    done)."""
    job = _explore_job(store, name, job_id)
    if job.state != JobState.SUCCEEDED or job.result is None:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"explore job {job_id} is {job.state.value}" + (f": {job.error}" if job.error else ""))
    return job.result, Decision.from_result(job.result)


def _stream(store: ModelStore, result: dict[str, Any], decision: Decision, rows: list[int],
            scored: bool) -> StreamingResponse:
    placement = read_placements(store, result, rows)
    return StreamingResponse(decision.lines(rows, placement, scored=scored), media_type=NDJSON)


@router.get("/designs/{name}/explore/{job_id}/suggest", response_class=StreamingResponse,
            responses={200: {"content": {NDJSON: {}}, "description": "The k placements to simulate, one per line"},
                       404: {"description": "No explore job of this design has this id"},
                       409: {"description": "The job has not succeeded (yet)"},
                       422: {"description": "k out of range, unknown strategy or index"}},
            dependencies=[PREDICT])
def explore_suggest(
    name: DesignPath, job_id: str, store: StoreDep,
    k: Annotated[int, Query(ge=1, le=MAX_JOB_PLACEMENTS, description="How many placements to label")] = 16,
    strategy: Annotated[Strategy, Query(description="How to choose them (placeq.suggest; docs/explore.md)")]
    = DEFAULT_STRATEGY,
    seed: Annotated[int, Query(ge=0, le=2**31 - 1, description="Seed of the random strategy")] = 0,
    exclude: Annotated[list[int] | None, Query(description="Indices already labelled (repeat the parameter)")]
    = None,
    scored: Annotated[bool, Query(description="Lines of {rank, index, score, prune, placement}")] = False,
) -> StreamingResponse:
    """The k placements of the explored space whose labels should teach a fine-tune the most: simulate them
    (`POST /label`), then `POST /finetune` with their values. Each line is a placement, in the order chosen."""
    result, decision = _succeeded(store, name, job_id)
    n = len(result["scores"])
    bad = [i for i in exclude or [] if not 0 <= i < n]
    if bad:
        raise InputError("exclude", f"index {bad[0]} is not a placement of this space (0..{n - 1})")
    rows = suggest(decision.scores, decision.prune, np.asarray(result["subsets"]), k, strategy=strategy, seed=seed,
                   exclude=np.asarray(exclude or [], dtype=np.int64))
    return _stream(store, result, decision, rows, scored)


@router.get("/designs/{name}/progress", response_model=ProgressOut, response_model_by_alias=True,
            responses={404: {"description": "Unknown design"}}, dependencies=[PREDICT])
def design_progress(
    name: DesignPath, runtime: RuntimeDep,
    audit: Annotated[str, Query(min_length=1, max_length=64, description="A succeeded label job of this design "
                                "whose layouts no version was fine-tuned on (a random sample of the space).")],
    prune_rate: Annotated[float, Query(gt=0.0, lt=1.0, description="Share of the audit each version prunes.")] = 0.25,
) -> dict[str, Any]:
    """The few-shot model's progress as labels arrive: the base model and each version of the design (the newest
    20), scored on the same audit layouts, with the FOR each reaches and the labels it was fine-tuned on."""
    store = runtime.store
    get_circuit(store, name)  # 404 for an unknown design
    checked = read_audit(store, audit, name)
    versions = store.list_versions(name, status="ready")[-MAX_PROGRESS_VERSIONS:]
    live: set[tuple[str, int]] = set()
    for design in (BASE_DESIGN, name):
        try:
            v = store.get_alias(design)
        except AliasNotFound:
            continue
        live.add((v.design, v.version))
        if design == BASE_DESIGN and name != BASE_DESIGN:
            versions.insert(0, v)

    def score(v: ModelVersion, batch: PlacementBatch) -> np.ndarray:
        model = runtime.cache.borrow(LiveRef(design=v.design, version=v.version, sha256=v.sha256,
                                             threshold=v.threshold))
        return np.asarray(model.predict(rasterize_batch(batch, nofeat=model.input_kind == "nofeat")))

    return progress(checked, versions, labels_used(store, versions), score, prune_rate, live)
