"""What a request names, resolved: the circuit of a design, the model that scores it, the features of placements.

Shared by the routes (a route never imports another route).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model_store import BASE_DESIGN, ModelStore
from placeq.batch import PlacementBatch
from placeq.columns import batch_from_columns
from placeq.domain import Circuit, Placement, Subcircuit
from placeq.errors import InputError, UnknownDesign
from placeq.features import rasterize, rasterize_batch
from service.api.errors import NoModel
from service.api.schemas import PlacementColumns
from service.runtime import Runtime
from service.scoring import LiveRef, LoadedModel
from simulate.check import floating_nets


def get_circuit(store: ModelStore, name: str) -> Circuit:
    """A registered design, else a built-in one (`UnknownDesign`, a 404, listing both otherwise)."""
    return store.circuit(name)


def labellable(circuit: Circuit) -> Circuit:
    """`circuit`, when a label job of it can run: it has a testbench with no floating node. Else `InputError`
    (a 422 at once, rather than a 202 and a job that fails a second later: issue 12)."""
    if circuit.testbench is None:
        raise InputError("testbench", f"design {circuit.name!r} has no testbench: nothing to measure; register it "
                         "with one (POST /designs with a testbench, or placeq import-netlist --testbench)")
    floating = floating_nets(circuit)
    if floating:
        net, terms = next(iter(floating.items()))
        raise InputError("testbench", f"design {circuit.name!r}: floating node {net} (only {', '.join(terms[:4])}) "
                         "has no DC path to a supply, bias voltage or input; every label would fail")
    return circuit


def tagged(placements: list[Placement], store: ModelStore | None) -> list[Placement]:
    """The placements with every device carrying its subcircuit tags, taken from the design in `store` (registered,
    else built-in) for devices that came without; `InputError` (a 422) naming the devices when no design has them.

    An untagged device draws nothing in the five subcircuit channels, so the model sees empty images and prunes the
    placement whatever it looks like (issue 12: 0.69 tagged, 9e-8 untagged, silently). Without a `store` (the OIP
    route) untagged devices are refused.
    """
    designs: dict[str, dict[str, tuple[Subcircuit, ...]]] = {}
    out: list[Placement] = []
    for i, p in enumerate(placements):
        if all(d.tags for d in p.devices):
            out.append(p)
            continue
        if p.design not in designs:
            designs[p.design] = _design_tags(store, p.design)
        tags = _filled(f"placements[{i}].devices", [d.name for d in p.devices], [d.tags for d in p.devices],
                       designs[p.design])
        devices = tuple(d if d.tags else d.model_copy(update={"tags": t}) for d, t in zip(p.devices, tags, strict=True))
        out.append(p.model_copy(update={"devices": devices}))
    return out


def _design_tags(store: ModelStore | None, design: str) -> dict[str, tuple[Subcircuit, ...]]:
    """Device -> tags of the design `store` knows by that name (registered, else built-in); empty if none."""
    if store is None:
        return {}
    try:
        circuit = store.circuit(design)
    except UnknownDesign:
        return {}
    return {d.name: d.tags for d in circuit.devices}


def _filled(field: str, names: Sequence[str], given: Sequence[Sequence[Subcircuit]],
            known: dict[str, tuple[Subcircuit, ...]]) -> list[tuple[Subcircuit, ...]]:
    """Each device's tags: as given, else the design's; `InputError` on `field` naming the devices with neither."""
    missing = [n for n, t in zip(names, given, strict=True) if not t and not known.get(n)]
    if missing:
        listed = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise InputError(field, f"devices without a subcircuit tag: {listed}; an untagged device draws no image "
                         "and the model would prune the placement: give each device its tags (first_stage, "
                         "other_stage, feedback, cmfb, bias) or register the design with tags (POST /designs)")
    return [tuple(t) or known[n] for n, t in zip(names, given, strict=True)]


def features_of(placements: list[Placement], nofeat: bool, store: ModelStore | None = None) -> np.ndarray:
    """(B, C, 64, 64): one batched call when the placements share a structure (the usual design-space case).
    Untagged devices are tagged from the design in `store`, or refused (`tagged`)."""
    placements = tagged(placements, store)
    try:
        batch = PlacementBatch.from_placements(placements)
    except InputError:
        return np.stack([rasterize(p, nofeat=nofeat) for p in placements])
    return rasterize_batch(batch, nofeat=nofeat)


def columns_batch(columns: PlacementColumns, store: ModelStore | None) -> PlacementBatch:
    """The `PlacementBatch` of a columnar request, checked as `Placement` checks the documented form (a 422 naming
    `columns.<field>` otherwise); devices without tags take the design's, as in `tagged`."""
    given = columns.tags if columns.tags is not None else [[] for _ in columns.devices]
    tags = given
    if not all(given) and len(given) == len(columns.devices):  # a length mismatch is batch_from_columns' to name
        tags = [list(t) for t in _filled("columns.tags", columns.devices, given,
                                         _design_tags(store, columns.design))]
    pins = columns.pins
    try:
        return batch_from_columns(
            design=columns.design, devices=columns.devices, kinds=columns.kinds, tags=tags,
            pin_device=pins.device if pins else [], pin_terminal=pins.terminal if pins else [],
            pin_net=pins.net if pins else [], boxes=columns.boxes, pin_boxes=columns.pin_boxes,
        )  # fmt: skip
    except InputError as exc:
        raise InputError(f"columns.{exc.field}", exc.message) from exc


def choose_model(runtime: Runtime, design: str, version: int | None) -> LoadedModel:
    if version is not None:
        v = runtime.store.get_version(design, version)
        ref = LiveRef(design=v.design, version=v.version, sha256=v.sha256, threshold=v.threshold)
        model = runtime.cache.resolve(design, pinned=ref)
    else:
        model = runtime.cache.resolve(design)
    if model is None:
        raise NoModel(f"no live model for design {design!r} and no {BASE_DESIGN!r} model")
    return model
