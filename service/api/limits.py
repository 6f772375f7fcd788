"""The request-body limit, enforced before the body is read: a pure ASGI middleware, so nothing is buffered for it.

A declared ``Content-Length`` above the limit is answered 413 at once, without calling the app (the body is never
read). A body without one (``Transfer-Encoding: chunked``) is counted as it streams through ``receive``, and the
request is answered 413 as soon as the count passes the limit. The answer names the limit and its setting, in
the house shape (``{"detail": ...}``, or ``{"error": ...}`` under ``/v2``, as `service.api.errors` does) with
``Connection: close``, since the rest of the body is never read.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_field

SETTING = "PLACEQ_MAX_BODY_BYTES"
LABEL_SETTING = "PLACEQ_MAX_LABEL_BODY_BYTES"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the limit. An HTTPException, so FastAPI's body reader
    lets it through to the app's handler (`service.api.errors`); the middleware answers it otherwise."""

    def __init__(self, message: str) -> None:
        super().__init__(status_code=413, detail=message, headers={"Connection": "close"})


def too_large(limit: int, *, declared: int | None = None, setting: str = SETTING) -> str:
    size = f"Content-Length {declared}" if declared is not None else "the streamed body"
    return f"request body too large: {size} exceeds the limit of {limit} bytes ({setting})"


def error_body(path: str, message: str) -> bytes:
    """The JSON body of an error on `path`: ``{"error": ...}`` under /v2 (Open Inference Protocol), else detail."""
    return json.dumps({error_field(path): message}).encode()


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, or None when absent (chunked) or not a number (the server refuses those)."""
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


async def reject(scope: Scope, send: Send, message: str) -> None:
    body = error_body(scope.get("path", ""), message)
    await send({
        "type": "http.response.start",
        "status": 413,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})


BODY_BYTES = "placeq.body_bytes"  # scope key: the bytes of the body received so far (a route may ask)


def body_bytes(scope: Scope) -> int:
    """How many body bytes the request has sent (all of them, once the route runs)."""
    return int(scope.get(BODY_BYTES, 0))


class BodyLimit:
    """413 for request bodies over `max_bytes`, declared or streamed (see the module docstring). `larger` names
    POST paths with a limit of their own (``{"/label": ...}``: a job sent in columns), with the setting to name."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, tuple[int, str]] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = larger or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        own = self.larger.get(scope.get("path", "")) if scope.get("method") == "POST" else None
        limit, setting = own if own is not None else (self.max_bytes, SETTING)
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await reject(scope, send, too_large(limit, declared=declared, setting=setting))
            return
        received = 0
        started = False
        scope[BODY_BYTES] = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                scope[BODY_BYTES] = received
                if received > limit:
                    raise BodyTooLarge(too_large(limit, setting=setting))
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as exc:  # nobody upstream answered it (e.g. a route that is not FastAPI's)
            if started:
                raise
            await reject(scope, send, exc.detail)
        except ExceptionGroup as group:  # raised inside a task group (streaming, BaseHTTPMiddleware)
            matched, rest = group.split(BodyTooLarge)
            if matched is None or rest is not None or started:
                raise
            await reject(scope, send, too_large(limit, setting=setting))
