"""Model versions (metrics, lineage, threshold), activation and rollback of a design's live alias."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Query

from model_store import LIVE, AliasMove, ModelVersion
from service.api.auth import PREDICT, AdminKey, actor
from service.api.deps import RuntimeDep, StoreDep
from service.api.errors import BODY_TOO_LARGE, Responses
from service.api.gate import GatedRoute
from service.api.schemas import ActivateRequest, DesignPath, ModelOut, VersionPath

router = APIRouter(tags=["models"], route_class=GatedRoute)
NOT_FOUND: Responses = {404: {"description": "Unknown design or version"}}
CONFLICT: Responses = {409: {"description": "The version is not ready, or there is nothing to roll back to"}}
UNLOADABLE: Responses = {503: {"description": "onnxruntime refuses the version's artifact; the alias did not move"}}
ACTOR = "api"


def model_out(v: ModelVersion, aliases: dict[str, ModelVersion]) -> ModelOut:
    return ModelOut(
        design=v.design, version=v.version, sha256=v.sha256, arch=v.arch, input_kind=v.input_kind,
        threshold=v.threshold, metrics=v.metrics, parent=asdict(v.parent) if v.parent else None, status=v.status,
        created_at=v.created_at, created_by=v.created_by,
        aliases=[LIVE] if aliases.get(v.design) is not None and aliases[v.design].version == v.version else [],
    )


@router.get("/models", response_model=list[ModelOut], dependencies=[PREDICT])
def list_models(store: StoreDep, design: str | None = Query(None, max_length=128)) -> list[ModelOut]:
    live = store.aliases()
    return [model_out(v, live) for v in store.list_versions(design)]


@router.get("/models/{design}/history", response_model=list[dict[str, object]], responses=NOT_FOUND,
            dependencies=[PREDICT])
def history(design: DesignPath, store: StoreDep) -> list[dict[str, object]]:
    """Append-only alias history: who moved the live alias, from which version to which, when and why."""
    moves: list[AliasMove] = store.alias_history(design)
    return [asdict(m) for m in moves]


@router.get("/models/{design}/{version:int}", response_model=ModelOut, responses=NOT_FOUND, dependencies=[PREDICT])
def get_model(design: DesignPath, version: VersionPath, store: StoreDep) -> ModelOut:
    return model_out(store.get_version(design, version), store.aliases())


@router.get("/models/{design}/{version:int}/lineage", response_model=list[ModelOut], responses=NOT_FOUND,
            dependencies=[PREDICT])
def lineage(design: DesignPath, version: VersionPath, store: StoreDep) -> list[ModelOut]:
    """The version, then what it was fine-tuned from, back to the first."""
    live = store.aliases()
    return [model_out(v, live) for v in store.lineage(design, version)]


def _apply(runtime: RuntimeDep, v: ModelVersion) -> ModelOut:
    runtime.poll_once()  # this process swaps now; the others within reload_interval_s
    return model_out(v, runtime.store.aliases())


@router.post("/models/{design}/{version:int}/activate", response_model=ModelOut,
             responses={**NOT_FOUND, **CONFLICT, **UNLOADABLE, **BODY_TOO_LARGE})
def activate(design: DesignPath, version: VersionPath, runtime: RuntimeDep, caller: AdminKey,
             body: ActivateRequest | None = None) -> ModelOut:
    """Make a version live. Every API process loads and warms it before switching; a failed load keeps the
    old one serving (see /readyz errors)."""
    from service.scoring import load_model

    v = runtime.store.get_version(design, version)
    # Load and warm here first: an artifact that cannot serve is refused before the alias moves.
    load_model(runtime.store.load_artifact(design, version), design=design, version=version, sha256=v.sha256,
               threshold=v.threshold, threads=runtime.settings.ort_threads)
    moved = runtime.store.set_alias(design, version, actor=actor(caller, ACTOR), reason=(body.reason if body else ""))
    return _apply(runtime, moved)


@router.post("/models/{design}/rollback", response_model=ModelOut,
             responses={**NOT_FOUND, **CONFLICT, **BODY_TOO_LARGE})
def rollback(
    design: DesignPath, runtime: RuntimeDep, caller: AdminKey, body: ActivateRequest | None = None
) -> ModelOut:
    """Undo the last move of the design's live alias."""
    moved = runtime.store.rollback(design, actor=actor(caller, ACTOR), reason=(body.reason if body else ""))
    return _apply(runtime, moved)
