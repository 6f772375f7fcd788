"""The Open Inference Protocol (KServe v2) REST endpoints over the live models, so stock clients work.

Model name = design. Versions are addressable (`/versions/{v}`, which KServe's own Python server answers with
501). Inputs: the feature tensor "features" FP32 [B, 18|2, 64, 64], or, as an extension, "placement" BYTES [B]
holding placement JSON strings that the server rasterizes. Errors are ``{"error": ...}``: 400 for bad input,
404 for an unknown model or version, 503 when no model can serve (KServe's status map).
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, Field

from placeq import __version__
from placeq.decision import prune_mask
from placeq.domain import Placement, json_integer
from placeq.errors import InputError
from service.api.auth import PREDICT
from service.api.deps import RuntimeDep
from service.api.gate import ScoringRoute
from service.api.resolve import choose_model, features_of
from service.api.schemas import DesignPath
from service.payloads import MAX_VERSION
from service.runtime import Runtime
from service.scoring import LoadedModel

router = APIRouter(prefix="/v2", tags=["open inference protocol"], route_class=ScoringRoute)

ERR = {"model": dict[str, str]}
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad request", **ERR},
    404: {"description": "Unknown model or version", **ERR},
    503: {"description": "Model not ready", **ERR},
}
INFER_RESPONSES = {**RESPONSES, 413: {"description": "Request body over PLACEQ_MAX_BODY_BYTES", **ERR}}
ModelName = DesignPath  # the model name is the design
VersionPath = Annotated[
    str, PathParam(pattern=r"^[1-9][0-9]*$", max_length=10, description="Model version: 1, 2, ...", examples=["1"])
]
Dim = Annotated[int, Field(ge=0, le=2**31 - 1), BeforeValidator(json_integer)]
DATATYPES = Literal["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32",
                    "FP64", "BYTES"]


class TensorIn(BaseModel):
    name: str
    shape: list[Dim] = Field(max_length=8)
    datatype: DATATYPES
    parameters: dict[str, Any] | None = None
    data: list[Any]


class OutputSpec(BaseModel):
    name: str
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[TensorIn] = Field(min_length=1, max_length=1)
    outputs: list[OutputSpec] | None = None


class TensorOut(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]


class InferResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[TensorOut]


class TensorMeta(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMeta]
    outputs: list[TensorMeta]


@router.get("", responses=RESPONSES)
def server_metadata() -> dict[str, Any]:
    return {"name": "placeq", "version": __version__, "extensions": ["model_versions", "placement_json_input"]}


@router.get("/health/live")
def live() -> dict[str, bool]:
    return {"live": True}


@router.get("/health/ready", responses={503: {"description": "No model is live", "model": dict[str, bool]}})
def ready(runtime: RuntimeDep) -> JSONResponse:
    ok = bool(runtime.cache.live)
    return JSONResponse({"ready": ok}, status_code=200 if ok else 503)


def _model(runtime: Runtime, name: str, version: str | None) -> LoadedModel:
    if version is not None:
        if not (version.isascii() and version.isdigit()) or int(version) < 1:
            raise InputError("version", f"{version!r} is not a version number (1, 2, ...)")
        if int(version) > MAX_VERSION:  # a number no version can have: not found, like any unknown version
            from model_store import ModelVersionNotFound

            raise ModelVersionNotFound(name, int(version))
        return choose_model(runtime, name, int(version))
    model = runtime.cache.live.get(name)
    if model is None:
        from model_store import AliasNotFound

        raise AliasNotFound(name, "live", f"Model with name {name!r} is not live")
    return model


def _metadata(runtime: Runtime, name: str, version: str | None) -> ModelMetadata:
    model = _model(runtime, name, version)
    versions = [str(v.version) for v in runtime.store.list_versions(name)]
    return ModelMetadata(
        name=name, versions=versions, platform="onnxruntime_onnx",
        inputs=[TensorMeta(name="features", datatype="FP32", shape=[-1, model.channels, 64, 64]),
                TensorMeta(name="placement", datatype="BYTES", shape=[-1])],
        outputs=[TensorMeta(name="probability", datatype="FP32", shape=[-1]),
                 TensorMeta(name="prune", datatype="BOOL", shape=[-1])],
    )


@router.get("/models/{name}", response_model=ModelMetadata, responses=RESPONSES, dependencies=[PREDICT])
def model_metadata(name: ModelName, runtime: RuntimeDep) -> ModelMetadata:
    return _metadata(runtime, name, None)


@router.get("/models/{name}/versions/{version}", response_model=ModelMetadata, responses=RESPONSES,
            dependencies=[PREDICT])
def model_version_metadata(name: ModelName, version: VersionPath, runtime: RuntimeDep) -> ModelMetadata:
    return _metadata(runtime, name, version)


@router.get("/models/{name}/ready", responses=RESPONSES, dependencies=[PREDICT])
def model_ready(name: ModelName, runtime: RuntimeDep) -> dict[str, Any]:
    _model(runtime, name, None)
    return {"name": name, "ready": True}


@router.get("/models/{name}/versions/{version}/ready", responses=RESPONSES, dependencies=[PREDICT])
def model_version_ready(name: ModelName, version: VersionPath, runtime: RuntimeDep) -> dict[str, Any]:
    _model(runtime, name, version)
    return {"name": name, "version": version, "ready": True}


def _batch_fits(batch: int, max_batch: int) -> None:
    if batch > max_batch:
        raise InputError("inputs[0].shape", f"batch {batch} exceeds the limit of {max_batch} (PLACEQ_MAX_BATCH)")


def _leaf_types(data: list[Any]) -> set[type]:
    """The types of the scalars in (possibly nested) tensor data; `map(type, ...)` keeps it in C for flat data."""
    types = set(map(type, data))
    if list in types:
        types.discard(list)
        for row in data:
            if isinstance(row, list):
                types |= _leaf_types(row)
    return types


def _fp32(data: list[Any]) -> np.ndarray:
    """FP32 data as JSON numbers only: a string (``"1.0"``) or a bool is refused as numpy would cast it, and an
    integer beyond any float (``10**400``, an OverflowError in numpy) is a 400 naming the field, not a 500."""
    odd = _leaf_types(data) - {int, float}
    if odd:
        raise InputError("inputs[0].data", f"FP32 data must be JSON numbers, got {sorted(t.__name__ for t in odd)}")
    try:
        with np.errstate(over="ignore"):  # beyond FP32 becomes inf, refused by the finite check
            x = np.asarray(data, dtype=np.float32)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InputError("inputs[0].data", f"not FP32 numbers: {exc}") from exc
    return x


def _features(tensor: TensorIn, model: LoadedModel, name: str, max_batch: int) -> tuple[np.ndarray, int]:
    """(features, batch) of the one input tensor; the batch size is checked before anything is decoded."""
    if tensor.name == "placement":
        if tensor.datatype != "BYTES" or len(tensor.shape) != 1 or tensor.shape[0] != len(tensor.data):
            raise InputError("inputs[0]", "'placement' must be BYTES of shape [B] with B JSON strings")
        _batch_fits(len(tensor.data), max_batch)
        try:
            placements = [Placement.model_validate_json(s if isinstance(s, str) else json.dumps(s))
                          for s in tensor.data]
        except ValueError as exc:
            raise InputError("inputs[0].data", f"invalid placement: {exc}") from exc
        for i, p in enumerate(placements):
            if p.design != name:
                raise InputError(f"inputs[0].data[{i}].design", f"{p.design!r} is not model {name!r}")
        return features_of(placements, nofeat=model.input_kind == "nofeat"), len(placements)
    if tensor.name != "features":
        raise InputError("inputs[0].name", f"unexpected input {tensor.name!r} for model {name!r}; expected "
                                            "'features' or 'placement'")
    if tensor.datatype != "FP32":
        raise InputError("inputs[0].datatype", f"expected FP32 for 'features', got {tensor.datatype}")
    want = [model.channels, 64, 64]
    if len(tensor.shape) != 4 or tensor.shape[1:] != want or tensor.shape[0] < 1:
        raise InputError("inputs[0].shape", f"expected [B, {model.channels}, 64, 64], got {tensor.shape}")
    _batch_fits(tensor.shape[0], max_batch)
    x = _fp32(tensor.data)
    n = math.prod(tensor.shape)
    if x.size != n:
        raise InputError("inputs[0].data", f"shape {tensor.shape} needs {n} values, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise InputError("inputs[0].data", "values must be finite")
    return x.reshape(tensor.shape), tensor.shape[0]


def _infer(runtime: Runtime, name: str, version: str | None, body: InferRequest) -> InferResponse:
    rate = _prune_rate(body.parameters)
    model = _model(runtime, name, version)
    x, batch = _features(body.inputs[0], model, name, runtime.settings.max_batch)
    probs = model.predict(x)
    wanted = {o.name for o in body.outputs} if body.outputs else {"probability", "prune"}
    unknown = wanted - {"probability", "prune"}
    if unknown:
        raise InputError("outputs", f"unknown outputs {sorted(unknown)}; have 'probability' and 'prune'")
    outputs = []
    if "probability" in wanted:
        outputs.append(TensorOut(name="probability", shape=[batch], datatype="FP32", data=probs.tolist()))
    if "prune" in wanted:
        outputs.append(TensorOut(name="prune", shape=[batch], datatype="BOOL",
                                 data=prune_mask(probs, model.threshold, rate).tolist()))
    decided: dict[str, Any] = {"rule": "threshold"} if rate is None else {"rule": "rate", "prune_rate": rate}
    return InferResponse(model_name=name, model_version=str(model.version), id=body.id,
                         parameters={"threshold": model.threshold, "scored_by": model.design, **decided},
                         outputs=outputs)


def _prune_rate(parameters: dict[str, Any] | None) -> float | None:
    """The request's `parameters.prune_rate` (as /predict's prune_rate), checked: a number in (0, 1)."""
    rate = (parameters or {}).get("prune_rate")
    if rate is None:
        return None
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 < rate < 1.0:
        raise InputError("parameters.prune_rate", f"must be a number in (0, 1), got {rate!r}")
    return float(rate)


@router.post("/models/{name}/infer", response_model=InferResponse, responses=INFER_RESPONSES, dependencies=[PREDICT])
def infer(name: ModelName, body: InferRequest, runtime: RuntimeDep) -> InferResponse:
    return _infer(runtime, name, None, body)


@router.post("/models/{name}/versions/{version}/infer", response_model=InferResponse, responses=INFER_RESPONSES,
             dependencies=[PREDICT])
def infer_version(name: ModelName, version: VersionPath, body: InferRequest, runtime: RuntimeDep) -> InferResponse:
    return _infer(runtime, name, version, body)
