"""Aliases, their append-only history (who moved what, when, why), rollback and the polled revision."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_onnx import tiny_model

from model_store import (
    AliasNotFound,
    InvalidName,
    ModelStore,
    NoPreviousVersion,
    VersionNotReady,
)


def _three(store: ModelStore, design: str = "ota1") -> None:
    for i in range(3):
        store.publish(design, tiny_model(bias=i / 10), created_by="train")


def test_set_get_and_history_with_actor(store: ModelStore) -> None:
    _three(store)
    store.set_alias("ota1", 1, actor="alice", reason="first")
    store.set_alias("ota1", 3, actor="bob", reason="better AUC")
    assert store.get_alias("ota1").version == 3
    hist = store.alias_history("ota1")
    assert [(h.action, h.from_version, h.to_version, h.actor, h.reason) for h in hist] == [
        ("set", None, 1, "alice", "first"),
        ("set", 1, 3, "bob", "better AUC"),
    ]
    assert hist[0].at <= hist[1].at and hist[0].revision < hist[1].revision


def test_rollback_undoes_the_last_move(store: ModelStore) -> None:
    _three(store)
    with pytest.raises(AliasNotFound):
        store.rollback("ota1", actor="ops")
    store.set_alias("ota1", 1, actor="a")
    with pytest.raises(NoPreviousVersion):
        store.rollback("ota1", actor="ops")
    store.set_alias("ota1", 2, actor="a")
    store.set_alias("ota1", 3, actor="a")
    assert store.rollback("ota1", actor="oncall").version == 2
    assert store.get_alias("ota1").version == 2
    assert store.rollback("ota1", actor="oncall").version == 3  # undoing the undo, like kubectl rollout undo
    last = store.alias_history("ota1")[-1]
    assert (last.action, last.from_version, last.to_version, last.actor) == ("rollback", 2, 3, "oncall")
    assert "rollback of revision" in last.reason


def test_rollback_refuses_an_archived_target(store: ModelStore) -> None:
    _three(store)
    store.set_alias("ota1", 1, actor="a")
    store.set_alias("ota1", 2, actor="a")
    store.set_status("ota1", 1, "archived", actor="ops")
    with pytest.raises(VersionNotReady, match="archived"):
        store.rollback("ota1", actor="ops")
    assert store.get_alias("ota1").version == 2


def test_only_ready_versions_can_be_aliased(store: ModelStore) -> None:
    store.publish("ota1", tiny_model(), created_by="gate", status="rejected")
    rev = store.alias_revision()
    with pytest.raises(VersionNotReady):
        store.set_alias("ota1", 1, actor="a")
    assert store.alias_revision() == rev  # a refused move leaves no trace
    assert store.alias_history("ota1") == []


def test_revision_is_seen_by_another_process_view(store: ModelStore, tmp_path: Path) -> None:
    other = ModelStore(store.url, tmp_path / "blobs")  # another API process: its own engine and pool
    try:
        r0 = other.alias_revision()
        v = store.publish("ota1", tiny_model(), created_by="train", activate=True)
        r1 = other.alias_revision()
        assert r1 > r0
        assert other.aliases() == {"ota1": v}
        store.publish("ota1", tiny_model(bias=1.0), created_by="train")  # no alias move
        assert other.alias_revision() == r1
    finally:
        other.close()


def test_activate_on_publish_records_the_publisher(store: ModelStore) -> None:
    store.publish("ota1", tiny_model(), created_by="job:1", activate=True)
    (move,) = store.alias_history("ota1")
    assert (move.actor, move.to_version, move.reason) == ("job:1", 1, "published")


def test_base_fallback(store: ModelStore) -> None:
    with pytest.raises(AliasNotFound):
        store.resolve("ota1")
    base = store.publish("base", tiny_model(bias=0.0), created_by="train", activate=True)
    assert store.resolve("ota1") == base  # no live version of its own: the base model
    own = store.publish("ota1", tiny_model(bias=0.5), created_by="ft", parent=base.ref, activate=True)
    assert store.resolve("ota1") == own
    assert set(store.aliases()) == {"base", "ota1"}


def test_several_aliases_and_delete(store: ModelStore) -> None:
    _three(store)
    store.set_alias("ota1", 2, actor="a")
    store.set_alias("ota1", 3, alias="candidate", actor="a")
    assert store.get_alias("ota1", alias="candidate").version == 3
    assert store.aliases(alias="candidate")["ota1"].version == 3
    move = store.delete_alias("ota1", alias="candidate", actor="a", reason="lost the A/B")
    assert (move.action, move.from_version, move.to_version) == ("delete", 3, None)
    with pytest.raises(AliasNotFound):
        store.get_alias("ota1", alias="candidate")
    assert store.get_alias("ota1").version == 2
    with pytest.raises(InvalidName, match="alias"):
        store.set_alias("ota1", 1, alias="Live!", actor="a")


def test_alias_at_answers_what_was_live_when(store: ModelStore) -> None:
    _three(store)
    store.set_alias("ota1", 1, actor="a")
    store.set_alias("ota1", 2, actor="a")
    h1, h2 = store.alias_history("ota1")
    assert store.alias_at("ota1", h1.at) is not None
    assert store.alias_at("ota1", h1.at).version == 1  # type: ignore[union-attr]
    assert store.alias_at("ota1", h2.at).version == 2  # type: ignore[union-attr]
    assert store.alias_at("ota1", h1.at.replace(year=2000)) is None


def test_setting_the_current_version_again_records_nothing(store: ModelStore) -> None:
    _three(store)
    store.set_alias("ota1", 2, actor="a")
    assert store.set_alias("ota1", 2, actor="b").version == 2
    assert [h.actor for h in store.alias_history("ota1")] == ["a"]
