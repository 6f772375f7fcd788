"""What a request names, resolved: the circuit of a design, the model that scores it, the features of placements.

Shared by the routes (a route never imports another route).
"""

from __future__ import annotations

import numpy as np

from model_store import BASE_DESIGN, ModelStore
from placeq.batch import PlacementBatch
from placeq.domain import Circuit, Placement
from placeq.errors import InputError
from placeq.features import rasterize, rasterize_batch
from service.api.errors import NoModel
from service.runtime import Runtime
from service.scoring import LiveRef, LoadedModel


def get_circuit(store: ModelStore, name: str) -> Circuit:
    """A registered design, else a built-in one (`UnknownDesign`, a 404, listing both otherwise)."""
    return store.circuit(name)


def features_of(placements: list[Placement], nofeat: bool) -> np.ndarray:
    """(B, C, 64, 64): one batched call when the placements share a structure (the usual design-space case)."""
    try:
        batch = PlacementBatch.from_placements(placements)
    except InputError:
        return np.stack([rasterize(p, nofeat=nofeat) for p in placements])
    return rasterize_batch(batch, nofeat=nofeat)


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
