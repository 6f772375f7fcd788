"""Registered designs: circuit JSON stored by name, upserted, read back as the same Circuit."""

from __future__ import annotations

import pytest

from model_store import InvalidName, ModelStore
from placeq.circuits import load_design
from placeq.errors import UnknownDesign


def test_register_get_list(store: ModelStore) -> None:
    ota1 = load_design("ota1")
    rec = store.register_design(ota1, source="upload:alice")
    assert (rec.name, rec.source) == ("ota1", "upload:alice")
    assert store.get_design("ota1") == ota1
    assert [d.name for d in store.list_designs()] == ["ota1"]


def test_reregister_same_is_a_no_op_and_changes_update(store: ModelStore) -> None:
    ota1 = load_design("ota1")
    first = store.register_design(ota1, source="s")
    assert store.register_design(ota1, source="s") == first
    changed = ota1.model_copy(update={"description": "with a new comment"})
    second = store.register_design(changed, source="s")
    assert second.sha256 != first.sha256 and second.updated_at >= first.updated_at
    assert store.get_design("ota1").description == "with a new comment"
    assert len(store.list_designs()) == 1


def test_unknown_design_lists_known_ones(store: ModelStore) -> None:
    store.register_design(load_design("ota2"), source="s")
    with pytest.raises(UnknownDesign, match="known: ota2"):
        store.get_design("ota9")


def test_base_is_reserved(store: ModelStore) -> None:
    base = load_design("ota1").model_copy(update={"name": "base"})
    with pytest.raises(InvalidName, match="reserved"):
        store.register_design(base)
