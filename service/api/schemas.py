"""Wire models of the HTTP API (request and response bodies). Domain objects come from `placeq.domain`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, model_validator

from placeq.domain import (
    DESIGN_NAME_PATTERN,
    MAX_DEVICES,
    MAX_NAME_LEN,
    MAX_PINS,
    Circuit,
    DesignName,
    DeviceKind,
    Integer,
    Name,
    Placement,
    Subcircuit,
    Testbench,
)
from service.payloads import MAX_JOB_PLACEMENTS, MAX_VERSION, ExplorePayload, FinetunePayload, LabelPayload, Version
from service.settings import MAX_NETLIST_BYTES

# Documented limit; the deployed value is Settings.max_batch (never above this).
MAX_PREDICT_BATCH = 4096
KEY_PATTERN = r"^[A-Za-z0-9_.:/+=@-]{1,128}$"  # model_store's rule for idempotency keys

DesignPath = Annotated[
    str,
    Path(min_length=1, max_length=MAX_NAME_LEN, pattern=DESIGN_NAME_PATTERN, description="Design name.",
         examples=["base"]),
]
VersionPath = Annotated[
    int, Path(ge=1, le=MAX_VERSION, description="Version of the design's model (1, 2, ...).", examples=[1])
]
IdempotencyKey = Annotated[
    str, Field(pattern=KEY_PATTERN, description="Repeat a request under the same key to get the same job back.")
]


class PinColumns(BaseModel):
    """Pin i is terminal `terminal[i]` of device `devices[device[i]]`, on net `net[i]`."""

    model_config = ConfigDict(extra="forbid")

    device: list[Annotated[int, Field(strict=True, ge=0, lt=MAX_DEVICES)]] = Field(
        max_length=MAX_PINS, description="Index into `devices` of each pin's device."
    )
    terminal: list[Name] = Field(max_length=MAX_PINS, description="Terminal name of each pin (D, G, S, B, ...).")
    net: list[Name] = Field(max_length=MAX_PINS, description="Net of each pin.")


# A row of numbers: pydantic checks only that they are numbers; shapes and ranges are checked with numpy.
NumberRow = list[Annotated[float, Field(strict=True)]]


class PlacementColumns(BaseModel):
    """A batch of one design in columns: the structure once, then one row of numbers per placement.

    Scores are those of the same placements in the documented form; validating it costs a fraction (no object
    per device or pin). `boxes[b]` is x, y, w, h of each device in `devices` order (4 numbers a device);
    `pin_boxes[b]` is x0, y0, x1, y1 of each pin in `pins` order (4 numbers a pin). The limits and checks are
    those of `placement`, and a 422 names the field (e.g. `columns.boxes[3][8]`).
    """

    model_config = ConfigDict(extra="forbid")

    design: DesignName
    devices: list[Name] = Field(min_length=1, max_length=MAX_DEVICES, description="Device names.")
    kinds: list[DeviceKind] = Field(max_length=MAX_DEVICES, description="Kind of each device.")
    tags: list[list[Subcircuit]] | None = Field(
        default=None, max_length=MAX_DEVICES,
        description="Subcircuit tags of each device (default: the design's, when it is registered or built in).",
    )
    pins: PinColumns | None = Field(default=None, description="The pins, one entry each (default: none).")
    boxes: list[NumberRow] = Field(
        min_length=1, max_length=MAX_PREDICT_BATCH, description="Per placement: x, y, w, h of each device (um)."
    )
    pin_boxes: list[NumberRow] | None = Field(
        default=None, max_length=MAX_PREDICT_BATCH,
        description="Per placement: x0, y0, x1, y1 of each pin (um); required when there are pins.",
    )


class PredictRequest(BaseModel):
    """One placement (`placement`), a batch of one design (`placements`), or a batch in columns (`columns`)."""

    model_config = ConfigDict(extra="forbid")

    placement: Placement | None = None
    placements: list[Placement] | None = Field(default=None, min_length=1, max_length=MAX_PREDICT_BATCH)
    columns: PlacementColumns | None = Field(
        default=None, description="A batch of one design in columns: the cheap form for many placements."
    )
    model_version: Version | None = Field(default=None, description="Pin a version of the design's model.")
    prune_rate: float | None = Field(
        default=None, gt=0, lt=1, strict=True,
        description="Prune by rate instead of the stored threshold: the round(prune_rate * n) layouts of this "
                    "batch with the highest probability (ties: the earlier one first). A share holds on any design "
                    "space, a probability threshold only on spaces like the one it was chosen on.",
    )

    @model_validator(mode="after")
    def _one_form(self) -> PredictRequest:
        if sum(f is not None for f in (self.placement, self.placements, self.columns)) != 1:
            raise ValueError("placements: give exactly one of 'placement', 'placements' or 'columns'")
        if self.columns is not None:
            return self
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
    prune: bool = Field(description="Skip routing and simulating it: probability >= threshold, or, with prune_rate, "
                                    "among the batch's prune_rate share with the highest probability.")


PruneRule = Literal["threshold", "rate"]


class PredictResponse(BaseModel):
    design: str
    model: ModelRef
    threshold: float = Field(description="The model version's stored threshold (it decided when rule is 'threshold').")
    rule: PruneRule = Field(
        default="threshold",
        description="What decided `prune`: 'threshold' (probability >= threshold) or 'rate' (the prune_rate share "
                    "of this batch with the highest probability).",
    )
    prune_rate: float | None = Field(default=None, description="The rate that decided, when rule is 'rate'.")
    pruned: int = Field(default=0, description="How many layouts of this batch are pruned.")
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
    name: DesignName | None = Field(default=None, description="Design name for a netlist (default: its subckt name).")
    types: dict[str, DeviceKind] | None = Field(default=None, description="Device -> kind (UT-AnLay .json).")
    channels: dict[str, list[Integer]] | None = Field(default=None, description="Device -> channels 1..5 (.channel).")
    symmetry_pairs: list[tuple[str, str]] | None = Field(default=None, description="Matched pairs (netlist form).")
    self_symmetric: list[str] | None = Field(default=None, description="Self-symmetric devices (netlist form).")
    critical_nets: list[str] | None = Field(
        default=None, description="Nets the design-space generator weights (default: the 14 best-ranked signal nets)."
    )
    testbench: Testbench | None = Field(default=None, description="How to simulate it (default: drafted from ports).")
    params: dict[str, str] | None = Field(default=None, description="Netlist parameters NAME -> value (--param).")
    keep: list[str] | None = Field(default=None, description="Devices the element rules would drop, kept (--keep).")
    drop: list[str] | None = Field(default=None, description="Devices left out of the layout (--drop).")
    infer: bool = Field(default=True, strict=True, description="Infer what is not given (tags, symmetry, critical "
                                                                "nets, testbench); false stores only what is given.")

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
    tagged: int = Field(description="Devices with a subcircuit tag.")
    symmetry_pairs: int = Field(description="Matched pairs.")
    provenance: dict[str, str] = Field(description="tags, symmetry, critical_nets, testbench -> given | inferred.")
    notes: list[str] = Field(default_factory=list, description="What the import decided or inferred (on register).")


class LabelColumns(PlacementColumns):
    """Placements of one design in columns, as `/predict` takes them, up to the job limit: the cheap form for a
    large label job (a 16,384-placement OTA1 job is 65 MB in columns, 245 MiB in the documented form)."""

    boxes: list[NumberRow] = Field(
        min_length=1, max_length=MAX_JOB_PLACEMENTS, description="Per placement: x, y, w, h of each device (um)."
    )
    pin_boxes: list[NumberRow] | None = Field(
        default=None, max_length=MAX_JOB_PLACEMENTS,
        description="Per placement: x0, y0, x1, y1 of each pin (um); required when there are pins.",
    )


class LabelRequest(BaseModel):
    """Placements to simulate: documented (`placements`) or in columns (`columns`, one design, the form for large
    jobs: its body may be up to PLACEQ_MAX_LABEL_BODY_BYTES; the documented form stays within
    PLACEQ_MAX_BODY_BYTES)."""

    model_config = ConfigDict(extra="forbid")

    design: DesignName
    idempotency_key: IdempotencyKey | None = None
    placements: list[Placement] | None = Field(default=None, min_length=1, max_length=MAX_JOB_PLACEMENTS)
    columns: LabelColumns | None = Field(default=None, description="The placements in columns (one design).")

    @model_validator(mode="after")
    def _one_form(self) -> LabelRequest:
        if (self.placements is None) == (self.columns is None):
            raise ValueError("placements: give exactly one of 'placements' or 'columns'")
        if self.columns is not None and self.columns.design != self.design:
            raise ValueError(f"columns.design: {self.columns.design!r} differs from design {self.design!r}")
        return self

    def payload(self) -> LabelPayload:
        """What the job row stores and the worker reads back for the documented form (`LabelPayload`)."""
        return LabelPayload.model_validate({"placements": self.placements})


class FinetuneRequest(FinetunePayload):
    """Few-shot labelled layouts: metric values (relabelled by their own percentile) or 0/1 labels."""

    model_config = ConfigDict(extra="forbid")

    design: DesignName
    idempotency_key: IdempotencyKey | None = None

    def payload(self) -> FinetunePayload:
        """What the job row stores and the worker reads back (`FinetunePayload`)."""
        return FinetunePayload.model_validate(self.model_dump(include=set(FinetunePayload.model_fields)))


class ExploreRequest(ExplorePayload):
    """Explore a registered (or built-in) design: place `count` weightings of its critical nets (all 2^k by
    default), score every placement with the design's model, prune `prune_rate` of them or by its threshold."""

    model_config = ConfigDict(extra="forbid")

    idempotency_key: IdempotencyKey | None = None

    def payload(self) -> ExplorePayload:
        return ExplorePayload.model_validate(self.model_dump(include=set(ExplorePayload.model_fields)))


class RankedPlacement(BaseModel):
    index: int = Field(description="Position in the explored space (the order `placeq place` writes it).")
    score: float = Field(description="Probability of the worst quartile.")
    prune: bool


class ExploreOut(BaseModel):
    """An explore job and, once it has succeeded, what it found (the per-placement scores are in the job's
    result, the placements at `placements_url`)."""

    id: str
    design: str
    state: str
    progress: float
    error: str | None = Field(default=None, description="Why the job failed, when it did.")
    job_url: str
    placements_url: str
    placements: int | None = Field(default=None, description="Placements generated and scored.")
    kept: int | None = None
    pruned: int | None = None
    rule: Literal["threshold", "rate", "for_target"] | None = Field(
        default=None, description="What decided `prune`: the model's threshold, a prune rate, or a FOR target "
                                  "(then `prune_rate` is the rate it chose).")
    threshold: float | None = None
    prune_rate: float | None = None
    model: dict[str, Any] | None = Field(default=None, description="The version that scored every placement.")
    seed: int | None = None
    score_quantiles: dict[str, float] | None = None
    histogram: dict[str, list[float] | list[int]] | None = Field(
        default=None, description="Kept and pruned counts over equal score bins of [0, 1] (`edges`).")
    best: list[RankedPlacement] | None = None
    worst: list[RankedPlacement] | None = None
    for_target: dict[str, Any] | None = Field(
        default=None, description="With a FOR target: the rate chosen, the FOR estimated on the audit layouts at "
                                  "that rate and its one-sided 95% upper bound, whether the target was met, the "
                                  "audit's size (`placeq.explore.ForTarget`).")
    seconds: dict[str, float] | None = Field(
        default=None, description="Worker-seconds spent placing, scoring and packing the placements for storage, "
                                  "summed over the chunks (the wall clock is the job's finished_at - created_at).")


class VersionProgress(BaseModel):
    design: str
    version: int
    labels: int | None = Field(description="Labelled layouts the version was fine-tuned on, its parents' included "
                                           "(0: the base model; null: not known, e.g. published from a model "
                                           "directory).")
    live: bool
    created_at: str
    for_: float = Field(alias="for", description="False omission rate on the audit layouts at `prune_rate`.")


class ProgressOut(BaseModel):
    """Every model version of a design scored on the same audit layouts: the few-shot model's progress as labels
    arrive (`service.audit`)."""

    model_config = ConfigDict(populate_by_name=True)

    audit_job: str
    audit: int = Field(description="Audit layouts with a value.")
    audit_bad: int = Field(description="Of them, bad: the worst quartile of their own values.")
    metric: str
    prune_rate: float
    random_pruning: float = Field(description="The FOR of pruning at random: the audit's bad share.")
    versions: list[VersionProgress]


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
