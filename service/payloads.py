"""Job payloads: what a label or fine-tune job row holds, validated once by the API and read back typed by the worker.

The API's request bodies (`service.api.schemas.LabelRequest`, `FinetuneRequest`) are these plus the design and
the idempotency key, which the job row keeps in columns of its own.

A label job sent in columns (`/label` with ``columns``) keeps only its structure in the row
(`LabelColumnsPayload`: devices, kinds, tags, pins, the count and a digest); its numbers go in parts of
`PART_PLACEMENTS` placements beside the row (`ModelStore.create_job(parts=...)`, table ``job_parts``), and a chunk
reads only the parts of its range (`columns_batch_of`). A 16,384-placement OTA1 job is then a row of a few KB and
64 parts of about 1 MB, instead of one 245 MiB row.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from placeq import recipes
from placeq.batch import PlacementBatch
from placeq.columns import batch_from_columns
from placeq.domain import DeviceKind, Integer, Placement, Real, Subcircuit, json_integer
from placeq.errors import InputError
from placeq.explore import MAX_EXPLORE, check_rule
from placeq.recipes import DEFAULT_EPOCHS, RecipeChoice

if TYPE_CHECKING:
    from model_store import Job, ModelStore

MAX_JOB_PLACEMENTS = 20_000  # placements in one /label or /finetune request
PART_PLACEMENTS = 256  # placements of a columnar label job per `job_parts` row (as `runner.LABEL_CHUNK`)
MAX_VERSION = 2**31 - 1  # model versions are SQL INTEGERs
Version = Annotated[int, Field(ge=1, le=MAX_VERSION), BeforeValidator(json_integer)]  # bounds, then no bools
Label = Annotated[Literal[0, 1], BeforeValidator(json_integer)]


class LabelPayload(BaseModel):
    """Placements to simulate (layout effects -> ngspice -> metric values)."""

    model_config = ConfigDict(extra="forbid")

    placements: list[Placement] = Field(min_length=1, max_length=MAX_JOB_PLACEMENTS)


class LabelColumnsPayload(BaseModel):
    """A label job in columns: the structure of its placements (tags filled in); the numbers are in its parts."""

    model_config = ConfigDict(extra="forbid")

    form: Literal["columns"] = "columns"
    design: str
    devices: list[str]
    kinds: list[DeviceKind]
    tags: list[list[Subcircuit]]
    pin_device: list[int]
    pin_terminal: list[str]
    pin_net: list[str]
    count: int = Field(ge=1, le=MAX_JOB_PLACEMENTS)
    sha256: str = Field(description="Digest of the parts, so an idempotent resubmission compares the numbers too.")


def columns_job(
    batch: PlacementBatch, part: int = PART_PLACEMENTS
) -> tuple[LabelColumnsPayload, list[tuple[int, int, str]]]:
    """The row payload and the parts (start, stop, JSON text) of `part` placements each of a validated batch, for
    `ModelStore.create_job(parts=...)`."""
    n = len(batch)
    boxes = batch.boxes.reshape(n, -1)
    pins = batch.pin_boxes.reshape(n, -1)
    parts = [
        (a, min(a + part, n), json.dumps({"boxes": boxes[a : a + part].tolist(),
                                          "pin_boxes": pins[a : a + part].tolist()}))
        for a in range(0, n, part)
    ]
    digest = hashlib.sha256()
    for _, _, text in parts:
        digest.update(text.encode())
    payload = LabelColumnsPayload(
        design=batch.design, devices=list(batch.device_names), kinds=list(batch.kinds),
        tags=[list(t) for t in batch.tags], pin_device=batch.pin_device.tolist(),
        pin_terminal=list(batch.pin_terminal), pin_net=[batch.nets[int(m)] for m in batch.pin_net],
        count=n, sha256=digest.hexdigest(),
    )  # fmt: skip
    return payload, parts


def is_columns(payload: dict[str, Any]) -> bool:
    return payload.get("form") == "columns"


def columns_batch_of(store: ModelStore, job_id: str, payload: dict[str, Any], start: int, stop: int) -> PlacementBatch:
    """Placements `start` to `stop` - 1 of columnar label job `job_id` (its `payload`), from the parts covering them
    only; checked again as the API checked them (`placeq.columns.batch_from_columns`)."""
    p = LabelColumnsPayload.model_validate(payload)
    boxes: list[Any] = []
    pin_boxes: list[Any] = []
    for a, b, text in store.job_parts(job_id, start, stop):
        part = json.loads(text)
        lo, hi = max(start, a) - a, min(stop, b) - a
        boxes += part["boxes"][lo:hi]
        pin_boxes += part["pin_boxes"][lo:hi]
    if len(boxes) != stop - start:
        from placeq.errors import InputError

        raise InputError("parts", f"job {job_id} holds {len(boxes)} of placements {start} to {stop - 1}")
    return batch_from_columns(
        design=p.design, devices=p.devices, kinds=p.kinds, tags=p.tags, pin_device=p.pin_device,
        pin_terminal=p.pin_terminal, pin_net=p.pin_net, boxes=boxes, pin_boxes=pin_boxes,
    )  # fmt: skip


class LabelChunkPayload(BaseModel):
    """Chunk `index` of label job `parent`: its placements `start` to `stop` - 1 (read from the parent's payload, so
    a chunk row holds four numbers, not a copy of its placements; `service.workers.chunks`)."""

    model_config = ConfigDict(extra="forbid")

    parent: str = Field(min_length=1, max_length=64)
    index: int = Field(ge=0)
    start: int = Field(ge=0)
    stop: int = Field(ge=1)
    form: Literal["placements", "columns"] = Field(default="placements", description="The parent's payload form.")


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


Rate = Annotated[float, Field(gt=0.0, lt=1.0, strict=True, allow_inf_nan=False)]
ExploreCount = Annotated[int, Field(ge=1, le=MAX_EXPLORE), BeforeValidator(json_integer)]  # bounds in the schema


class ExplorePayload(BaseModel):
    """Generate placements of a design with the placer, score them all, keep the best (`service.workers.explore`)."""

    model_config = ConfigDict(extra="forbid")

    count: ExploreCount | None = Field(
        default=None,
        description=f"Placements to generate: a seeded sample of the 2^k critical-net weightings (default: all of "
                    f"them, when 2^k <= {MAX_EXPLORE}).")
    seed: Integer = Field(default=0, ge=0, le=2**31 - 1,
                          description="Seed of the sample and of every placement's starting positions.")
    prune_rate: Rate | None = Field(
        default=None, description="Prune this share of the space, the worst-scored first (default: the model's "
                                  "threshold decides, as /predict does).")
    version: Version | None = Field(default=None, description="Score with this version of the design's models "
                                                              "(default: its live model, else the base model).")
    for_target: Rate | None = Field(
        default=None, description="Instead of prune_rate: prune the least share of the space whose false omission "
                                  "rate, estimated on the `audit` layouts, is at most this (`placeq.explore."
                                  "ForTarget`).")
    audit: str | None = Field(
        default=None, min_length=1, max_length=64,
        description="With for_target: a succeeded label job of this design whose layouts the scoring model was not "
                    "trained on (a random sample of the space: suggest with strategy=random); its worst 25% are "
                    "the bad ones.")

    @model_validator(mode="after")
    def _rule(self) -> ExplorePayload:
        check_rule(self.prune_rate, self.for_target, self.audit)  # an InputError is a ValueError: a 422
        return self


def label_placements(store: ModelStore, job: Job) -> PlacementBatch:
    """All placements of a label job, documented (``placements``) or in columns (from its parts)."""
    if is_columns(job.payload):
        return columns_batch_of(store, job.id, job.payload, 0, int(job.payload.get("count", 0)))
    return PlacementBatch.from_placements(LabelPayload.model_validate(job.payload).placements)


def check_audit(job: Job, design: str) -> None:
    """An explore job's audit must be a succeeded label job of the same design (InputError naming `audit`)."""
    if job.kind != "label" or job.design != design:
        raise InputError("audit", f"job {job.id} is a {job.kind} job of {job.design}, not a label job of {design}")
    if job.state.value != "succeeded":
        raise InputError("audit", f"label job {job.id} is {job.state.value}: wait until it has succeeded")


class ExploreChunkPayload(BaseModel):
    """Placements `start` to `stop` - 1 of explore job `parent`'s space (`space_ids(k, count, seed)`), scored with
    one model version chosen by the parent, so every chunk scores with the same model."""

    model_config = ConfigDict(extra="forbid")

    parent: str = Field(min_length=1, max_length=64)
    index: int = Field(ge=0)
    start: int = Field(ge=0)
    stop: int = Field(ge=1)
    count: int | None = Field(default=None, ge=1)
    seed: int = Field(ge=0)
    model_design: str
    model_version: int = Field(ge=1)
