"""Wire models of the HTTP API (request and response bodies). Domain objects come from `placeq.domain`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from placeq import recipes
from placeq.domain import MAX_NAME_LEN, NAME_PATTERN, Circuit, DeviceKind, Integer, Name, Placement, Real, json_integer
from placeq.recipes import RecipeChoice
from service.settings import MAX_NETLIST_BYTES

# Documented limit; the deployed value is Settings.max_batch (never above this).
MAX_PREDICT_BATCH = 4096
MAX_JOB_PLACEMENTS = 20_000  # placements in one /label or /finetune request
MAX_VERSION = 2**31 - 1  # model versions are SQL INTEGERs
KEY_PATTERN = r"^[A-Za-z0-9_.:/+=@-]{1,128}$"  # model_store's rule for idempotency keys

DesignPath = Annotated[
    str,
    Path(min_length=1, max_length=MAX_NAME_LEN, pattern=NAME_PATTERN, description="Design name.", examples=["base"]),
]
VersionPath = Annotated[
    int, Path(ge=1, le=MAX_VERSION, description="Version of the design's model (1, 2, ...).", examples=[1])
]
Version = Annotated[int, Field(ge=1, le=MAX_VERSION), BeforeValidator(json_integer)]  # bounds, then no bools
IdempotencyKey = Annotated[
    str, Field(pattern=KEY_PATTERN, description="Repeat a request under the same key to get the same job back.")
]
Label = Annotated[Literal[0, 1], BeforeValidator(json_integer)]


class PredictRequest(BaseModel):
    """One placement (`placement`) or a batch of one design (`placements`)."""

    model_config = ConfigDict(extra="forbid")

    placement: Placement | None = None
    placements: list[Placement] | None = Field(default=None, min_length=1, max_length=MAX_PREDICT_BATCH)
    model_version: Version | None = Field(default=None, description="Pin a version of the design's model.")

    @model_validator(mode="after")
    def _one_form(self) -> PredictRequest:
        if (self.placement is None) == (self.placements is None):
            raise ValueError("placements: give exactly one of 'placement' or 'placements'")
        items = self.items
        design = items[0].design
        for i, p in enumerate(items):
            if p.design != design:
                raise ValueError(f"placements[{i}].design: {p.design!r} differs from {design!r}; one design a call")
        return self

    @property
    def items(self) -> list[Placement]:
        return [self.placement] if self.placement is not None else list(self.placements or [])


class ModelRef(BaseModel):
    design: str = Field(description="Design whose model scored (may be 'base' when the design has none).")
    version: int
    sha256: str


class LayoutScore(BaseModel):
    probability: float = Field(description="Probability that the layout is in the worst 25% of its metric.")
    prune: bool = Field(description="True when probability >= threshold: skip routing and simulating it.")


class PredictResponse(BaseModel):
    design: str
    model: ModelRef
    threshold: float
    results: list[LayoutScore]


class DesignIn(BaseModel):
    """A circuit as JSON, or a netlist (SPICE or Spectre) with UT-AnLay-style sidecars."""

    model_config = ConfigDict(extra="forbid")

    circuit: Circuit | None = None
    netlist: str | None = Field(
        default=None,
        max_length=MAX_NETLIST_BYTES,
        description="Netlist text (SPICE/Spectre), at most PLACEQ_MAX_NETLIST_BYTES bytes (default 1 MiB).",
    )
    name: Name | None = Field(default=None, description="Design name for a netlist (default: its subckt name).")
    types: dict[str, DeviceKind] | None = Field(default=None, description="Device -> kind (UT-AnLay .json).")
    channels: dict[str, list[Integer]] | None = Field(default=None, description="Device -> channels 1..5 (.channel).")
    symmetry_pairs: list[tuple[str, str]] | None = Field(default=None, description="Matched pairs (netlist form).")
    self_symmetric: list[str] | None = Field(default=None, description="Self-symmetric devices (netlist form).")
    critical_nets: list[str] | None = Field(default=None, description="Nets the design-space generator weights.")

    @model_validator(mode="after")
    def _one_form(self) -> DesignIn:
        if (self.circuit is None) == (self.netlist is None):
            raise ValueError("circuit: give exactly one of 'circuit' or 'netlist'")
        return self


class DesignOut(BaseModel):
    name: str
    devices: int
    nets: int
    critical_nets: list[str]
    metric: str | None
    source: str
    sha256: str


class LabelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    design: Name
    placements: list[Placement] = Field(min_length=1, max_length=MAX_JOB_PLACEMENTS)
    idempotency_key: IdempotencyKey | None = None


class FinetuneRequest(BaseModel):
    """Few-shot labelled layouts: metric values (relabelled by their own percentile) or 0/1 labels."""

    model_config = ConfigDict(extra="forbid")

    design: Name
    placements: list[Placement] = Field(min_length=4, max_length=MAX_JOB_PLACEMENTS)
    values: list[Real] | None = Field(default=None, description="Metric value per placement (offset V or CMRR dB).")
    labels: list[Label] | None = Field(default=None, description="1 = bad layout, per placement.")
    base_version: Version | None = Field(default=None, description="Version to start from (default: live/base).")
    activate: bool = Field(default=False, strict=True, description="Make the new version live once it is published.")
    epochs: Integer = Field(default=30, ge=1, le=500)
    recipe: RecipeChoice = Field(default="auto", description=recipes.HELP + ".")
    idempotency_key: IdempotencyKey | None = None

    @model_validator(mode="after")
    def _labels(self) -> FinetuneRequest:
        if (self.values is None) == (self.labels is None):
            raise ValueError("values: give exactly one of 'values' or 'labels'")
        given = self.values if self.values is not None else self.labels
        if given is not None and len(given) != len(self.placements):
            raise ValueError(f"{'values' if self.values is not None else 'labels'}: {len(given)} entries for "
                             f"{len(self.placements)} placements")
        return self


class JobOut(BaseModel):
    id: str
    kind: str
    design: str
    state: str
    progress: float
    attempts: int
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    url: str


class ModelOut(BaseModel):
    design: str
    version: int
    sha256: str
    arch: str
    input_kind: str
    threshold: float
    metrics: dict[str, Any]
    parent: dict[str, Any] | None
    status: str
    created_at: datetime
    created_by: str
    aliases: list[str]


class ActivateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500)


class ErrorBody(BaseModel):
    detail: Any
