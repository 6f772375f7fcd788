"""The alias watcher: an API process notices alias moves made by another process and reloads once per move."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from tiny_onnx import tiny_model

from model_store import AliasWatcher, ModelStore, ModelVersion


def test_poll_reloads_only_when_an_alias_moved(store: ModelStore, tmp_path: Path) -> None:
    api = ModelStore(store.url, tmp_path / "blobs")  # the API process's own store
    seen: list[dict[str, int]] = []
    watcher = AliasWatcher(api, lambda live: seen.append({d: v.version for d, v in live.items()}))
    try:
        assert watcher.poll_once()  # first poll always loads (maybe nothing)
        assert not watcher.poll_once()
        store.publish("ota1", tiny_model(bias=0.1), created_by="t", activate=True)
        store.publish("ota1", tiny_model(bias=0.2), created_by="t")  # not activated: no reload
        assert watcher.poll_once()
        assert not watcher.poll_once()
        store.set_alias("ota1", 2, actor="ops")
        assert watcher.poll_once()
        assert seen == [{}, {"ota1": 1}, {"ota1": 2}]
    finally:
        api.close()


def test_failed_reload_is_retried(store: ModelStore) -> None:
    calls: list[int] = []

    def flaky(live: dict[str, ModelVersion]) -> None:
        calls.append(len(live))
        if len(calls) == 1:
            raise RuntimeError("onnxruntime could not allocate")

    watcher = AliasWatcher(store, flaky)
    store.publish("ota1", tiny_model(), created_by="t", activate=True)
    with pytest.raises(RuntimeError, match="allocate"):
        watcher.poll_once()
    assert watcher.poll_once()  # the same revision is handled again
    assert calls == [1, 1]


def test_background_thread_delivers_moves(store: ModelStore) -> None:
    got = threading.Event()
    versions: list[int] = []

    def on_change(live: dict[str, ModelVersion]) -> None:
        if "ota1" in live:
            versions.append(live["ota1"].version)
            got.set()

    watcher = AliasWatcher(store, on_change, interval_s=0.01)
    watcher.start()
    try:
        store.publish("ota1", tiny_model(), created_by="t", activate=True)
        assert got.wait(30)
    finally:
        watcher.stop()
    assert versions[-1] == 1
