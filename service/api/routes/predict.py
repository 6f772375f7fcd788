"""POST /predict: placements -> rasterize (paper Sec. III-B/C) -> live ONNX model -> probability and prune."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Body, Response

from placeq.decision import prune_mask
from placeq.domain import Placement
from placeq.errors import InputError
from placeq.features import rasterize_batch
from service import metrics
from service.api.auth import PREDICT
from service.api.deps import RuntimeDep
from service.api.errors import BODY_TOO_LARGE
from service.api.gate import ScoringRoute
from service.api.resolve import choose_model, columns_batch, features_of
from service.api.schemas import LayoutScore, ModelRef, PredictRequest, PredictResponse
from service.runtime import Runtime

router = APIRouter(tags=["predict"], dependencies=[PREDICT], route_class=ScoringRoute)

RESPONSES: dict[int | str, dict[str, object]] = {
    404: {"description": "Pinned model version not found"},
    422: {"description": "Invalid placement or prune_rate: the body names the field"},
    503: {
        "description": "Overloaded (more than PLACEQ_MAX_INFLIGHT requests in flight: retry after `Retry-After`) or "
        "no model available",
        "headers": {"Retry-After": {"description": "Seconds to wait (when overloaded)", "schema": {"type": "integer"}}},
    },
    **BODY_TOO_LARGE,
}


def score(runtime: Runtime, request: PredictRequest) -> PredictResponse:
    columns = request.columns
    placements = request.items if columns is None else []
    design = placements[0].design if columns is None else columns.design
    count, field = (len(placements), "placements") if columns is None else (len(columns.boxes), "columns.boxes")
    if count > runtime.settings.max_batch:
        raise InputError(field, f"{count} placements exceed the limit of {runtime.settings.max_batch} "
                                "(PLACEQ_MAX_BATCH)")
    start = time.perf_counter()  # the in-flight slot was taken before the body was read (service.api.gate)
    model = choose_model(runtime, design, request.model_version)
    nofeat = model.input_kind == "nofeat"
    if columns is None:
        x = features_of(placements, nofeat=nofeat, store=runtime.store)
    else:
        x = rasterize_batch(columns_batch(columns, runtime.store), nofeat=nofeat)
    probs = model.predict(x)
    prune = prune_mask(probs, model.threshold, request.prune_rate)
    metrics.observe_predict(model.design, model.version, count, time.perf_counter() - start)
    return PredictResponse(
        design=design,
        model=ModelRef(design=model.design, version=model.version, sha256=model.sha256),
        threshold=model.threshold,
        rule="threshold" if request.prune_rate is None else "rate",
        prune_rate=request.prune_rate,
        pruned=int(prune.sum()),
        results=[LayoutScore(probability=float(p), prune=bool(d)) for p, d in zip(probs, prune, strict=True)],
    )


@router.post("/predict", response_model=PredictResponse, responses=RESPONSES)
def predict(request: PredictRequest, runtime: RuntimeDep) -> PredictResponse:
    """Score one placement or a batch of one design with its live model (or the base model, or a pinned
    version). CPU-bound, so a plain `def`: FastAPI runs it in its thread pool and onnxruntime releases the GIL."""
    return score(runtime, request)


@router.post(
    "/draw",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The placement beside its six feature images"},
               422: {"description": "Invalid placement"}, **BODY_TOO_LARGE},
)
def draw(placement: Annotated[Placement, Body()]) -> Response:
    """A picture of the placement and its feature channels (the web page shows it)."""
    import tempfile
    from pathlib import Path

    from placeq.draw import draw_placement

    with tempfile.TemporaryDirectory() as tmp:
        png = draw_placement(placement, Path(tmp) / "placement.png")
        return Response(png.read_bytes(), media_type="image/png")
