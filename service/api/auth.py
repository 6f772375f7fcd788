"""Access control: API keys with scopes, as FastAPI dependencies attached to each protected route.

Scopes: ``predict`` scores and reads (``/predict``, ``/draw``, the OIP model routes, GETs of designs, models and
jobs); ``admin`` changes state (register designs, label, fine-tune, activate, roll back) and implies ``predict``.
Health, readiness, metrics, the web page, the docs, the example placement and the OIP server metadata and health
routes stay open. A token comes as ``Authorization: Bearer <token>`` or ``X-API-Key: <token>`` and is checked by
`model_store.keys` (one primary-key read, constant-time compare).

With ``PLACEQ_AUTH`` off (the embedded, localhost dev mode) every check lets the request through;
``PLACEQ_OPEN_PREDICT`` opens the predict scope only. `document` makes ``/openapi.json`` say what this process
enforces (security scheme, 401/403 responses) and nothing it does not, so a schema-driven client or fuzzer sees
the truth in either mode.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from model_store import ApiKey, Scope
from service.api.deps import get_runtime
from service.api.errors import Forbidden, Unauthorized, error_field
from service.settings import Settings

MISSING = "missing API key: send Authorization: Bearer <key> (or X-API-Key: <key>)"
INVALID = "invalid or revoked API key"

# auto_error=False: the dependency below decides (and answers in the route's error shape, /v2 included).
BEARER = HTTPBearer(scheme_name="bearer", description="An API key from `placeq keys create`.", auto_error=False)
API_KEY = APIKeyHeader(
    name="X-API-Key", scheme_name="apiKey", description="The same key, in another header.", auto_error=False
)


class OutageKeys:
    """Keys this process verified recently, used only while the database cannot be reached.

    Every request is checked against the database first, so a revocation takes effect at once; only when the
    lookup fails to connect does a token verified within `max_age_s` pass on its cached key, so the loaded
    model keeps serving its callers through a database outage (issue: predict keeps serving). Tokens are held
    as sha256 digests, never in clear.
    """

    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self._seen: dict[str, tuple[float, ApiKey]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def remember(self, token: str, key: ApiKey) -> None:
        with self._lock:
            self._seen[self._digest(token)] = (time.monotonic(), key)

    def forget(self, token: str) -> None:
        with self._lock:
            self._seen.pop(self._digest(token), None)

    def recall(self, token: str) -> ApiKey | None:
        with self._lock:
            hit = self._seen.get(self._digest(token))
        if hit is None or time.monotonic() - hit[0] > self.max_age_s:
            return None
        return hit[1]


def _verify(request: Request, token: str) -> ApiKey | None:
    runtime = get_runtime(request)
    cache: OutageKeys = request.app.state.outage_keys
    try:
        key = runtime.store.keys.verify(token)
    except (OperationalError, PoolTimeout):
        key = cache.recall(token)
        if key is None:
            raise  # the 503 "database unreachable" answer of service/api/errors.py
        return key
    if key is None:
        cache.forget(token)
    else:
        cache.remember(token, key)
    return key


def enforced(settings: Settings, scope: Scope) -> bool:
    """Whether this process asks for a key for `scope`."""
    return settings.auth and not (scope == "predict" and settings.open_predict)


def widest(scopes: list[str]) -> Scope | None:
    return "admin" if "admin" in scopes else "predict" if "predict" in scopes else None


def token_of(request: Request) -> str:
    """The key a request carries (``Authorization: Bearer`` first, else ``X-API-Key``), read as BEARER and
    API_KEY read it; 401 when there is none."""
    scheme, credentials = get_authorization_scheme_param(request.headers.get("authorization"))
    bearer = credentials.strip() if scheme.lower() == "bearer" else ""
    token = bearer or request.headers.get("x-api-key", "").strip()
    if not token:
        raise Unauthorized(MISSING)
    return token


def authorize_token(request: Request, scope: Scope, token: str) -> ApiKey:
    """Check `token` for `scope` (401 unknown or revoked, 403 without the scope) and remember the answer on the
    request, so the route's `authorize` dependency does not look it up again. A plain `def`: the key lookup is
    a database read, run in the thread pool."""
    key = _verify(request, token)
    if key is None:
        raise Unauthorized(INVALID, challenge='Bearer error="invalid_token"')
    if not key.allows(scope):
        raise Forbidden(
            f"API key {key.id} ({key.name!r}) lacks the {scope!r} scope this route needs",
            challenge=f'Bearer error="insufficient_scope", scope="{scope}"',
        )
    request.state.api_key = key
    request.state.authorized_scope = scope
    return key


def authorize(
    request: Request,
    security_scopes: SecurityScopes,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    api_key: Annotated[str | None, Security(API_KEY)],
) -> ApiKey | None:
    """Let the request through only with a key holding the route's scope (when this process enforces it).

    `service.api.gate.GatedRoute` checks the key before the body is read; this dependency then finds the answer
    on the request (and declares the security schemes in /openapi.json). A plain `def`: FastAPI runs it in its
    thread pool, so a key lookup never blocks the event loop.
    """
    scope = widest(security_scopes.scopes) or "admin"
    runtime = get_runtime(request)
    if not enforced(runtime.settings, scope):
        return None
    if getattr(request.state, "authorized_scope", None) == scope:
        key: ApiKey = request.state.api_key
        return key
    return authorize_token(request, scope, token_of(request))


PREDICT = Security(authorize, scopes=["predict"])  # for `dependencies=[...]` of a route or router
ADMIN = Security(authorize, scopes=["admin"])
AdminKey = Annotated[ApiKey | None, Security(authorize, scopes=["admin"])]  # a route that records who called


def actor(key: ApiKey | None, default: str) -> str:
    """Who to record in an audit trail (alias history): the key's id, else `default` (auth off)."""
    return f"key:{key.id}" if key is not None else default


# --- OpenAPI -------------------------------------------------------------------------------------------------


def _refusal(path: str, text: str) -> dict[str, Any]:
    field = error_field(path)
    body = {"type": "object", "properties": {field: {"type": "string"}}, "required": [field]}
    return {
        "description": text,
        "headers": {"WWW-Authenticate": {"description": "Bearer, with the error", "schema": {"type": "string"}}},
        "content": {"application/json": {"schema": body}},
    }


def annotate(schema: dict[str, Any], settings: Settings) -> None:
    """Keep the security requirement of the operations this process protects, adding their 401 (and, for
    admin, 403) responses; drop it from the others, and drop the schemes when nothing uses them."""
    used = False
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "security" not in operation:
                continue
            scope = widest([s for requirement in operation["security"] for ss in requirement.values() for s in ss])
            if scope is None or not enforced(settings, scope):
                del operation["security"]
                continue
            used = True
            responses = operation.setdefault("responses", {})
            responses["401"] = _refusal(path, "No API key, or an unknown or revoked one")
            if scope == "admin":
                responses["403"] = _refusal(path, "The API key lacks the 'admin' scope")
    components = schema.get("components", {})
    if not used and "securitySchemes" in components:
        del components["securitySchemes"]


def document(app: FastAPI, settings: Settings) -> None:
    """Make ``app.openapi()`` describe the access control `settings` turn on (see the module docstring)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            annotate(schema, settings)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
