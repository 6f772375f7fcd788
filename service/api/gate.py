"""What a request must pass before FastAPI reads its body or hands it to the thread pool: the key, then a slot.

FastAPI reads and parses the body, then solves the dependencies (the API key among them) and runs a plain `def`
route in anyio's thread pool (40 threads). Two faults followed (issue 16):

- a request without a key but with a body that is not JSON got 422/400 before the 401, so an anonymous caller
  learnt about the body rules and made the server parse what it sent;
- a scoring request waiting for a thread was not yet "in flight": `PLACEQ_MAX_INFLIGHT` was counted inside the
  route, so 200 concurrent callers queued behind the pool (p99 12.7 s) and none was ever shed.

`GatedRoute` wraps each route's handler: it takes a slot of the in-flight bound on the event loop (for routes
that `shed`), with no wait, so overload answers 503 with ``Retry-After`` at once; then it checks the API key of a
protected route (the route's own `authorize` dependency then reuses the answer); then it reads the body within
PLACEQ_BODY_TIMEOUT_S (408 otherwise); only then does FastAPI parse the body and dispatch the route. The slot is
held until the route has answered, so the key lookup's and the route's waits for a thread, the body read and the
scoring all count toward the bound: a slow body holds a slot for at most the body timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import anyio
from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from model_store import Scope
from service import metrics
from service.api.auth import authorize, authorize_token, enforced, token_of, widest
from service.api.deps import get_runtime
from service.api.errors import ServiceUnavailable

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
SHED_METHODS = frozenset({"POST"})  # the scoring calls; reads of metadata are cheap and never shed
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


async def read_body(request: Request, timeout_s: float) -> None:
    """Read the whole body within `timeout_s` (Starlette keeps it for FastAPI's parser): a client that stops
    sending mid-body gets 408 and the connection closed, instead of holding a slot and a socket for as long as
    it likes (uvicorn has no body read timeout; unfinished headers are the reverse proxy's job, docs/service.md)."""
    try:
        with anyio.fail_after(timeout_s):
            await request.body()
    except TimeoutError as exc:
        raise HTTPException(
            status_code=408, detail=f"request body not received within {timeout_s:g} s (PLACEQ_BODY_TIMEOUT_S)",
            headers={"Connection": "close"},
        ) from exc


def route_scope(dependant: Dependant) -> Scope | None:
    """The scope the route's `authorize` dependency asks for (widest wins), None for an open route."""
    found: list[str] = []
    stack = list(dependant.dependencies)
    while stack:
        dep = stack.pop()
        if dep.call is authorize:
            found += list(getattr(dep, "own_oauth_scopes", None) or [])
            found += list(getattr(dep, "parent_oauth_scopes", None) or [])
        stack += dep.dependencies
    return widest(found) if found else None


class GatedRoute(APIRoute):
    """An APIRoute whose handler checks the key before the body is read (see the module docstring)."""

    sheds = False

    def get_route_handler(self) -> Handler:
        inner = super().get_route_handler()
        scope = route_scope(self.dependant)
        sheds = self.sheds and bool((self.methods or set()) & SHED_METHODS)
        has_body = bool((self.methods or set()) & BODY_METHODS)

        async def gated(request: Request) -> Response:
            runtime = get_runtime(request)
            if sheds and not runtime.inflight.acquire(blocking=False):
                metrics.REJECTED.inc()
                raise ServiceUnavailable(
                    f"more than {runtime.settings.max_inflight} requests in flight (PLACEQ_MAX_INFLIGHT)"
                )
            try:
                if scope is not None and enforced(runtime.settings, scope):
                    token = token_of(request)  # a missing key is refused here, without a thread
                    await run_in_threadpool(authorize_token, request, scope, token)
                if has_body:
                    await read_body(request, runtime.settings.body_timeout_s)
                return await inner(request)
            finally:
                if sheds:
                    runtime.inflight.release()

        return gated


class ScoringRoute(GatedRoute):
    """A CPU-bound scoring route: its POSTs count toward PLACEQ_MAX_INFLIGHT from the moment they arrive."""

    sheds = True
