"""Exceptions -> HTTP responses, in one place. Bodies always name the field or the thing that was not found.

Outside `/v2` the body is FastAPI's shape, ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`` for input
errors and ``{"detail": "..."}`` otherwise; the Open Inference Protocol routes answer ``{"error": "..."}`` with
400 instead of 422 (see `service.api.routes.oip`). A refused API key (`service.api.auth`) is 401 or 403 with a
``WWW-Authenticate`` header, in the same two shapes. Starlette's own HTTP errors get the same shapes too: a body
that is not UTF-8 JSON is a 422 like any bad input (FastAPI says 400), and a 405 lists in ``Allow`` every method
of the path, not only those of the first route that matched it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount

from model_store import (
    AliasNotFound,
    ArtifactCorrupt,
    DuplicateVersion,
    IdempotencyConflict,
    JobNotFound,
    JobStateError,
    ModelVersionNotFound,
    NoPreviousVersion,
    VersionInUse,
    VersionNotReady,
)
from placeq.errors import InputError, UnknownDesign
from service.scoring import ModelLoadError

log = logging.getLogger(__name__)

Responses = dict[int | str, dict[str, Any]]  # FastAPI's `responses=` (documented status codes)
BODY_TOO_LARGE: Responses = {413: {"description": "Request body over PLACEQ_MAX_BODY_BYTES (see service.api.limits)"}}

STATUS: list[tuple[type[Exception], int]] = [
    (NoPreviousVersion, 409),
    (ModelVersionNotFound, 404),
    (AliasNotFound, 404),
    (JobNotFound, 404),
    (UnknownDesign, 404),
    (IdempotencyConflict, 409),
    (VersionNotReady, 409),
    (VersionInUse, 409),
    (JobStateError, 409),
    (DuplicateVersion, 503),
    (ModelLoadError, 503),
    (ArtifactCorrupt, 500),
]


class ServiceUnavailable(Exception):
    """Overloaded (bounded queue full) or a dependency is down; the client should retry later."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NoModel(Exception):
    """No live model for the design and no base model."""


class AccessDenied(Exception):
    """Base of the access-control refusals (`service.api.auth`); `challenge` is the WWW-Authenticate value."""

    status = 401

    def __init__(self, message: str, challenge: str = "Bearer") -> None:
        super().__init__(message)
        self.challenge = challenge


class Unauthorized(AccessDenied):
    """No API key, or one that is unknown or revoked: 401."""


class Forbidden(AccessDenied):
    """A valid API key without the scope the route needs: 403."""

    status = 403


OIP_PREFIX = "/v2"


def error_field(path: str) -> str:
    """The key of an error body on `path`: ``error`` under /v2 (Open Inference Protocol), else ``detail``."""
    return "error" if path.startswith(OIP_PREFIX) else "detail"


def _is_oip(request: Request) -> bool:
    return request.url.path.startswith(OIP_PREFIX)


def _body(request: Request, status: int, detail: object) -> JSONResponse:
    if _is_oip(request):
        return JSONResponse({"error": detail if isinstance(detail, str) else str(detail)}, status_code=status)
    return JSONResponse({"detail": detail}, status_code=status)


def input_error_detail(exc: InputError) -> list[dict[str, object]]:
    return [{"loc": ["body", *exc.field.replace("]", "").replace("[", ".").split(".")], "msg": str(exc),
             "type": public_type(exc)}]


def public_type(exc: Exception) -> str:
    """The error's type as `placeq.errors` names it (a reader's private subclass, e.g. UnknownParameter, answers
    as its public parent NetlistError, so the API's error types are the documented hierarchy)."""
    return next((c.__name__ for c in type(exc).__mro__ if c.__module__ == "placeq.errors"), type(exc).__name__)


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request, allow: str) -> str:
    """`allow` (what the first route matching the path allows) plus every method another route of the path
    serves, asked of each route (included routers too) through the public `matches`. Mounts (the static web
    page) take any method to their app, which names its own in `allow`."""
    methods = {m.strip() for m in allow.split(",") if m.strip()}
    for route in request.app.router.routes:
        if isinstance(route, Mount):
            continue
        methods.update(m for m in METHODS if route.matches({**request.scope, "method": m})[0] is Match.FULL)
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):  # FastAPI could not decode the body
            msg = f"the body is not JSON text: {exc.__cause__}"
            if _is_oip(request):
                return _body(request, 400, f"body: {msg}")
            return JSONResponse({"detail": [{"loc": ["body"], "msg": msg, "type": "json_invalid"}]}, status_code=422)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request, headers.get("Allow", ""))
        if _is_oip(request):
            response = _body(request, exc.status_code, exc.detail)
            response.headers.update(headers)
            return response
        return await http_exception_handler(request, HTTPException(exc.status_code, exc.detail, headers or None))

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> JSONResponse:
        if _is_oip(request):
            return _body(request, 400, str(exc))
        return JSONResponse({"detail": input_error_detail(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        if _is_oip(request):
            first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
            where = ".".join(str(p) for p in first["loc"] if p != "body")
            return _body(request, 400, f"{where}: {first['msg']}" if where else str(first["msg"]))
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(request: Request, exc: ServiceUnavailable) -> JSONResponse:
        response = _body(request, 503, str(exc))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(AccessDenied)
    async def _denied(request: Request, exc: AccessDenied) -> JSONResponse:
        response = _body(request, exc.status, str(exc))
        response.headers["WWW-Authenticate"] = exc.challenge
        return response

    @app.exception_handler(NoModel)
    async def _no_model(request: Request, exc: NoModel) -> JSONResponse:
        return _body(request, 503 if not _is_oip(request) else 404, str(exc))

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unreachable: %s", exc)
        response = _body(request, 503, "the database is unreachable; retry later")
        response.headers["Retry-After"] = "5"
        return response

    for cls, status in STATUS:
        app.add_exception_handler(cls, _mapped(status))


def _mapped(status: int):  # type: ignore[no-untyped-def]
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        if status >= 500:
            log.error("%s: %s", type(exc).__name__, exc)
        return _body(request, status, str(exc))

    return handler
