"""A real `placeq serve` (uvicorn) on a free port, for tests that need real HTTP: raw sockets, chunked bodies,
schemathesis over the network. The helper lives in tests/service_helpers.py (the docs test uses it too)."""

from service_helpers import live_api

__all__ = ["live_api"]
