"""Job payloads: what a label or fine-tune job row holds, validated once by the API and read back typed by the worker.

The API's request bodies (`service.api.schemas.LabelRequest`, `FinetuneRequest`) are these plus the design and
the idempotency key, which the job row keeps in columns of its own.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from placeq import recipes
from placeq.domain import Integer, Placement, Real, json_integer
from placeq.recipes import DEFAULT_EPOCHS, RecipeChoice

MAX_JOB_PLACEMENTS = 20_000  # placements in one /label or /finetune request
MAX_VERSION = 2**31 - 1  # model versions are SQL INTEGERs
Version = Annotated[int, Field(ge=1, le=MAX_VERSION), BeforeValidator(json_integer)]  # bounds, then no bools
Label = Annotated[Literal[0, 1], BeforeValidator(json_integer)]


class LabelPayload(BaseModel):
    """Placements to simulate (layout effects -> ngspice -> metric values)."""

    model_config = ConfigDict(extra="forbid")

    placements: list[Placement] = Field(min_length=1, max_length=MAX_JOB_PLACEMENTS)


class LabelChunkPayload(BaseModel):
    """Chunk `index` of label job `parent`: its placements `start` to `stop` - 1 (read from the parent's payload, so
    a chunk row holds four numbers, not a copy of its placements; `service.workers.chunks`)."""

    model_config = ConfigDict(extra="forbid")

    parent: str = Field(min_length=1, max_length=64)
    index: int = Field(ge=0)
    start: int = Field(ge=0)
    stop: int = Field(ge=1)


class FinetunePayload(BaseModel):
    """Labelled layouts of one design and how to fine-tune on them."""

    model_config = ConfigDict(extra="forbid")

    placements: list[Placement] = Field(min_length=4, max_length=MAX_JOB_PLACEMENTS)
    values: list[Real] | None = Field(default=None, description="Metric value per placement (offset V or CMRR dB).")
    labels: list[Label] | None = Field(default=None, description="1 = bad layout, per placement.")
    base_version: Version | None = Field(default=None, description="Version to start from (default: live/base).")
    activate: bool = Field(default=False, strict=True, description="Make the new version live once it is published.")
    epochs: Integer = Field(default=DEFAULT_EPOCHS, ge=1, le=500)
    recipe: RecipeChoice = Field(default="auto", description=recipes.HELP + ".")

    @model_validator(mode="after")
    def _labels(self) -> FinetunePayload:
        if (self.values is None) == (self.labels is None):
            raise ValueError("values: give exactly one of 'values' or 'labels'")
        given = self.values if self.values is not None else self.labels
        if given is not None and len(given) != len(self.placements):
            raise ValueError(f"{'values' if self.values is not None else 'labels'}: {len(given)} entries for "
                             f"{len(self.placements)} placements")
        return self
