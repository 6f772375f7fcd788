"""Publishing and looking up versions, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tiny_onnx import tiny_model

from model_store import (
    ArtifactCorrupt,
    ArtifactInvalid,
    IdempotencyConflict,
    InvalidName,
    ModelRef,
    ModelStore,
    ModelVersionNotFound,
    VersionInUse,
    sha256_hex,
)
from placeq.errors import InputError


def test_publish_get_list(store: ModelStore) -> None:
    blob = tiny_model(bias=0.1)
    v = store.publish("ota1", blob, created_by="alice", metrics={"auc": 0.91, "per_fold": [0.9, 0.92]})
    assert (v.design, v.version, v.status, v.created_by) == ("ota1", 1, "ready", "alice")
    assert v.sha256 == sha256_hex(blob) and v.size == len(blob)
    assert (v.arch, v.input_kind, v.threshold) == ("tiny", "feat", 0.5)  # from the artifact's metadata_props
    assert v.metrics == {"auc": 0.91, "per_fold": [0.9, 0.92]}
    assert v.onnx_metadata["architecture"] == "tiny"
    assert v.created_at.tzinfo is not None
    assert store.get_version("ota1", 1) == v
    assert store.list_versions() == [v]
    assert store.load_artifact("ota1", 1) == blob


def test_versions_count_up_per_design(store: ModelStore, tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(tiny_model(bias=0.3))
    got = [
        store.publish("ota1", tiny_model(bias=0.1), created_by="t").ref,
        store.publish("ota2", tiny_model(bias=0.2), created_by="t").ref,
        store.publish("ota1", path, created_by="t", threshold=0.3, arch="fast3d").ref,  # from a file
    ]
    assert got == [ModelRef("ota1", 1), ModelRef("ota2", 1), ModelRef("ota1", 2)]
    assert [v.version for v in store.list_versions("ota1")] == [1, 2]
    v2 = store.get_version("ota1", 2)
    assert (v2.threshold, v2.arch) == (0.3, "fast3d")  # explicit values beat the metadata


def test_concurrent_publishers_get_distinct_versions(store: ModelStore) -> None:
    blobs = [tiny_model(bias=i / 10) for i in range(12)]
    with ThreadPoolExecutor(6) as pool:
        done = list(pool.map(lambda b: store.publish("ota3", b, created_by="worker"), blobs))
    assert sorted(v.version for v in done) == list(range(1, 13))
    assert {v.sha256 for v in done} == {sha256_hex(b) for b in blobs}


def test_idempotent_publish_returns_the_first_version(store: ModelStore) -> None:
    first = store.publish("ota1", tiny_model(bias=0.1), created_by="job", idempotency_key="job:abc")
    # a redelivered fine-tune job trains again (other bytes) but must not publish twice
    again = store.publish("ota1", tiny_model(bias=0.2), created_by="job", idempotency_key="job:abc")
    assert again == first
    assert len(store.list_versions("ota1")) == 1
    with pytest.raises(IdempotencyConflict, match="already published ota1 v1"):
        store.publish("ota2", tiny_model(), created_by="job", idempotency_key="job:abc")


def test_concurrent_redeliveries_publish_once(store: ModelStore) -> None:
    with ThreadPoolExecutor(4) as pool:
        done = list(
            pool.map(
                lambda i: store.publish("ota2", tiny_model(bias=i), created_by="job", idempotency_key="job:7"),
                range(4),
            )
        )
    assert {v.version for v in done} == {1}
    assert len(store.list_versions("ota2")) == 1


def test_corrupt_artifact_rejected_and_nothing_changes(store: ModelStore) -> None:
    rev = store.alias_revision()
    with pytest.raises(ArtifactInvalid, match="fixed batch size"):
        store.publish("ota1", tiny_model(batch=4), created_by="t", activate=True)
    with pytest.raises(ArtifactInvalid, match="cannot load"):
        store.publish("ota1", b"not onnx at all", created_by="t")
    assert store.list_versions() == []
    assert store.alias_revision() == rev
    assert not (store.blobs.root / "sha256").exists()  # no blob written either


def test_tampered_blob_detected_at_load(store: ModelStore) -> None:
    v = store.publish("ota1", tiny_model(), created_by="t")
    evil = tiny_model(bias=5.0)  # a valid model, just not the one that was published
    store.blobs.path(v.sha256).write_bytes(evil)
    with pytest.raises(ArtifactCorrupt, match="checksum mismatch"):
        store.load_artifact("ota1", 1)


def test_lineage_follows_parents_across_designs(store: ModelStore) -> None:
    base = store.publish("base", tiny_model(bias=0.0), created_by="train")
    ft1 = store.publish("ota1", tiny_model(bias=0.1), created_by="ft", parent=base.ref)
    ft2 = store.publish("ota1", tiny_model(bias=0.2), created_by="ft", parent=ft1.ref)
    assert ft2.parent == ModelRef("ota1", 1)
    assert [v.ref for v in store.lineage("ota1", 2)] == [ft2.ref, ft1.ref, base.ref]
    assert store.get_version("ota1", 2).parent == ft1.ref
    with pytest.raises(ModelVersionNotFound):
        store.publish("ota1", tiny_model(bias=0.3), created_by="ft", parent=ModelRef("ota9", 1))
    assert len(store.list_versions("ota1")) == 2


def test_threshold_and_metrics_are_checked(store: ModelStore) -> None:
    with pytest.raises(InputError, match="threshold: 1.2"):
        store.publish("ota1", tiny_model(), created_by="t", threshold=1.2)
    with pytest.raises(ArtifactInvalid, match="no threshold"):
        store.publish("ota1", tiny_model(metadata={"threshold": None}), created_by="t")
    with pytest.raises(InputError, match="metrics"):
        store.publish("ota1", tiny_model(), created_by="t", metrics={"auc": float("nan")})
    with pytest.raises(InvalidName, match="design"):
        store.publish("bad name", tiny_model(), created_by="t")
    assert store.list_versions() == []


def test_unknown_version(store: ModelStore) -> None:
    with pytest.raises(ModelVersionNotFound, match="no model version ota1 v3"):
        store.get_version("ota1", 3)
    with pytest.raises(ModelVersionNotFound):
        store.load_artifact("ota1", 3)


def test_status_rejected_and_archived(store: ModelStore) -> None:
    store.publish("ota1", tiny_model(bias=0.1), created_by="t", activate=True)
    cand = store.publish("ota1", tiny_model(bias=0.2), created_by="gate", status="rejected")
    assert cand.status == "rejected"
    assert [v.version for v in store.list_versions("ota1", status="ready")] == [1]
    with pytest.raises(VersionInUse, match="live"):
        store.set_status("ota1", 1, "archived", actor="ops")
    assert store.set_status("ota1", 2, "archived", actor="ops").status == "archived"
