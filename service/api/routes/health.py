"""Liveness, readiness (model loaded, database and broker reachable) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service import metrics
from service.api.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, bool]:
    """The process is up (no dependency is checked)."""
    return {"live": True}


@router.get("/readyz", responses={503: {"description": "Not ready: see the body for what is missing"}})
def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Ready when a model is loaded and the database and broker answer; the body says which part is not."""
    runtime.poll_once()
    live = runtime.cache.live
    checks = {
        "model_loaded": bool(live),
        "database": runtime.health.database_ok,
        "broker": runtime.broker_ok(),
    }
    body = {
        "ready": all(checks.values()),
        "checks": checks,
        "live": {d: m.version for d, m in sorted(live.items())},
        "errors": [e for e in [runtime.health.database_error, *runtime.health.load_errors] if e],
    }
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def prometheus(runtime: RuntimeDep) -> Response:
    for design, model in runtime.cache.live.items():
        metrics.LIVE_VERSION.labels(design).set(model.version)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
