"""Fault: a corrupt or mismatched ONNX artifact -> refused at publish, and refused at load without disturbing the
live model.

- at publish: a real exported model cut short at several points, or a valid ONNX graph whose input is not a
  placeq feature tensor, raises `ArtifactInvalid` (a 4xx naming the field "artifact"); nothing is stored;
- at load: a version whose blob was damaged on disk (its bytes no longer hash to the recorded sha256) cannot be
  activated through the API (the alias does not move, the live model keeps answering), and when an operator moves
  the alias onto it behind the API's back, every API process keeps serving the old version and names the broken
  one under /readyz `errors`; once the blob is repaired, the poller loads it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import onnx
import pytest
from fastapi.testclient import TestClient
from service_helpers import wait_for
from tiny_onnx import tiny_model

from model_store import ArtifactInvalid, ModelStore
from placeq.domain import Placement
from service.api.app import create_app
from service.settings import Settings


@pytest.fixture
def settings(pg_clean_url: str, tmp_path: Path, model_dir: Path) -> Settings:
    return Settings(
        database_url=pg_clean_url,
        blob_root=tmp_path / "blobs",
        home=tmp_path / "home",
        base_model=model_dir,
        worker="none",
        reload_interval_s=0.2,
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[ModelStore]:
    with ModelStore(settings.db_url, settings.blobs) as s:
        yield s


def _renamed_input(data: bytes, name: str) -> bytes:
    model = onnx.load_from_string(data)
    old = model.graph.input[0].name
    model.graph.input[0].name = name
    for node in model.graph.node:
        node.input[:] = [name if i == old else i for i in node.input]
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.9, -1])
def test_truncated_artifact_rejected_at_publish(store: ModelStore, model_dir: Path, keep: float) -> None:
    data = (model_dir / "model.onnx").read_bytes()
    cut = data[: int(len(data) * keep)] if keep > 0 else data[: int(keep)]
    with pytest.raises(ArtifactInvalid) as exc:
        store.publish("ota1", cut, created_by="test", threshold=0.5, activate=True)
    assert exc.value.field == "artifact"
    assert store.list_versions("ota1") == [] and "ota1" not in store.aliases()
    assert not (store.blobs.root / "sha256").exists()  # no blob written either


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (tiny_model(channels=3), r"shape \['B', 3, 64, 64\]"),  # valid ONNX, not our input shape
        (tiny_model(size=32), r"expected \[B, 18\|2, 64, 64\]"),
        (tiny_model(metadata={"input_kind": "nofeat"}), "input_kind='nofeat' but the input has 18 channels"),
    ],
)
def test_mismatched_artifact_rejected_at_publish(store: ModelStore, data: bytes, message: str) -> None:
    with pytest.raises(ArtifactInvalid, match=message):
        store.publish("ota1", data, created_by="test")
    assert store.list_versions("ota1") == []


def test_input_name_is_free(store: ModelStore) -> None:
    """The input's name is not part of the contract: the service feeds the one input by position."""
    v = store.publish("ota1", _renamed_input(tiny_model(), "x"), created_by="test")
    assert v.version == 1


def _predict(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/predict", json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_corrupt_blob_refused_at_load_live_model_untouched(
    settings: Settings, store: ModelStore, example: Placement
) -> None:
    body: dict[str, Any] = {"placement": json.loads(example.model_dump_json())}
    with TestClient(create_app(settings)) as client:
        v1 = store.publish("ota1", tiny_model(bias=-3.0), created_by="test", activate=True)
        v2 = store.publish("ota1", tiny_model(bias=3.0), created_by="test")
        wait_for("ota1 v1 live", lambda: _predict(client, body)["model"]["sha256"] == v1.sha256, timeout=30)
        old = _predict(client, body)
        assert old["model"] == {"design": "ota1", "version": 1, "sha256": v1.sha256}

        blob = store.blobs.path(v2.sha256)
        good = blob.read_bytes()
        blob.write_bytes(good[: len(good) // 2])  # damaged on disk after it was published
        revision, history = store.alias_revision(), len(store.alias_history("ota1"))

        refused = client.post(f"/models/ota1/{v2.version}/activate", json={"reason": "try the damaged one"})
        assert refused.status_code == 500 and "checksum mismatch" in refused.json()["detail"], refused.text
        assert store.get_alias("ota1").version == v1.version
        assert store.alias_revision() == revision and len(store.alias_history("ota1")) == history
        assert _predict(client, body) == old

        # An operator moves the alias anyway (another process, no API check): the API keeps v1 and says why.
        store.set_alias("ota1", v2.version, actor="operator", reason="behind the API's back")

        def reported() -> list[str] | None:
            errors: list[str] = client.get("/readyz").json()["errors"]
            return errors if any("ota1 v2" in e and "checksum mismatch" in e for e in errors) else None

        wait_for("/readyz naming the broken version", reported, timeout=30)
        assert _predict(client, body) == old
        pinned = client.post("/predict", json={**body, "model_version": v2.version})
        assert pinned.status_code == 500 and "checksum mismatch" in pinned.json()["detail"], pinned.text

        blob.write_bytes(good)  # repaired: the poller retries and swaps v2 in
        wait_for("ota1 v2 live", lambda: _predict(client, body)["model"]["sha256"] == v2.sha256, timeout=30)
        assert _predict(client, body)["model"]["sha256"] == v2.sha256
        assert client.get("/readyz").json()["errors"] == []
