"""Dependencies, declared once as `Annotated` aliases that routes take as parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from model_store import ModelStore
from service.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_store(request: Request) -> ModelStore:
    return get_runtime(request).store


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
StoreDep = Annotated[ModelStore, Depends(get_store)]
