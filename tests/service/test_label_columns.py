"""/label in columns (issue 15): the same labels as the documented form, a small job row with its numbers in parts
that chunks read by range, and a 4xx naming the field for bad input. Real ngspice, SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_helpers import placements_json

from model_store import Job, JobState, ModelStore
from placeq.batch import PlacementBatch
from placeq.columns import columns_of
from placeq.domain import Placement
from service.api.app import create_app
from service.payloads import columns_job
from service.settings import Settings
from service.workers.chunks import CHUNK_KIND
from service.workers.runner import run_job

Columns = dict[str, Any]


def _columns(items: list[dict[str, object]]) -> Columns:
    return columns_of(PlacementBatch.from_placements([Placement.model_validate(p) for p in items]))


def _store(client: TestClient) -> ModelStore:
    return client.app.state.runtime.store  # type: ignore[attr-defined,no-any-return]


def _run(store: ModelStore, job_id: str, tmp_path: Path, chunk: int = 1024) -> Job:
    settings = Settings(home=tmp_path / "home", label_chunk_placements=chunk, label_backend="batch")
    done = run_job(store, job_id, worker="test-worker", settings=settings)
    assert done.state == JobState.SUCCEEDED, done.error
    return done


def test_columns_label_as_the_documented_form(client: TestClient, example: Placement, tmp_path: Path) -> None:
    """Same placements, both forms: identical labels; the columnar row holds no numbers, its parts do."""
    items = placements_json(example, 6, seed=21)
    documented = client.post("/label", json={"design": "ota1", "placements": items})
    columnar = client.post("/label", json={"design": "ota1", "columns": _columns(items)})
    assert documented.status_code == columnar.status_code == 202, (documented.text, columnar.text)
    store = _store(client)
    row = store.get_job(columnar.json()["id"])
    assert row.payload["form"] == "columns" and row.payload["count"] == 6
    assert "boxes" not in json.dumps(row.payload)  # the numbers are in the parts, not in the row
    assert [(a, b) for a, b, _ in store.job_parts(row.id, 0, 6)] == [(0, 6)]
    want = _run(store, documented.json()["id"], tmp_path).result
    got = _run(store, columnar.json()["id"], tmp_path).result
    assert got == want
    assert want is not None and want["failed"] == 0 and len(want["values"]) == 6
    chunked = client.post("/label", json={"design": "ota1", "columns": _columns(items), "idempotency_key": "c4"})
    assert _run(store, chunked.json()["id"], tmp_path, chunk=4).result == want  # two chunks reading parts by range
    chunks = store.list_jobs(kind=CHUNK_KIND)
    assert sorted((c.payload["start"], c.payload["stop"], c.payload["form"]) for c in chunks) == [
        (0, 4, "columns"), (4, 6, "columns")]


def test_chunks_read_only_their_parts(db_url: str, tmp_path: Path, example: Placement) -> None:
    """Parts of 3 placements, chunks of 4: every chunk straddles a part border and still gets its own slice, in
    placement order, equal to the documented job's labels; each chunk stores its labels once."""
    items = placements_json(example, 10, seed=22)
    batch = PlacementBatch.from_placements([Placement.model_validate(p) for p in items])
    structure, parts = columns_job(batch, part=3)
    assert [(a, b) for a, b, _ in parts] == [(0, 3), (3, 6), (6, 9), (9, 10)]
    from model_store import upgrade

    upgrade(db_url)
    with ModelStore(db_url, tmp_path / "blobs") as store:
        job = store.create_job("label", "ota1", structure.model_dump(mode="json"), parts=parts)
        assert [(a, b) for a, b, _ in store.job_parts(job.id, 4, 8)] == [(3, 6), (6, 9)]
        reference = store.create_job("label", "ota1", {"placements": items})
        done = _run(store, job.id, tmp_path, chunk=4)
        assert done.result == _run(store, reference.id, tmp_path).result
        chunks = [c for c in store.list_jobs(kind=CHUNK_KIND) if c.payload["parent"] == job.id]
        assert len(chunks) == 3 and all(c.state == JobState.SUCCEEDED and c.attempts == 1 for c in chunks)
        assert sum(len((c.result or {})["values"]) for c in chunks) == 10


def test_columns_idempotency_compares_the_numbers(client: TestClient, example: Placement) -> None:
    items = placements_json(example, 3, seed=23)
    body = {"design": "ota1", "columns": _columns(items), "idempotency_key": "cols-once"}
    first = client.post("/label", json=body)
    again = client.post("/label", json=body)
    assert first.status_code == again.status_code == 202 and first.json()["id"] == again.json()["id"]
    other = copy.deepcopy(body)
    other["columns"]["boxes"][2][0] += 1.0
    conflict = client.post("/label", json=other)
    assert conflict.status_code == 409, conflict.text
    assert len(_store(client).job_parts(first.json()["id"], 0, 3)) == 1


def _edit(columns: Columns, path: str, value: object) -> Columns:
    out = copy.deepcopy(columns)
    *parents, last = path.split(".")
    target: Any = out
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    target[int(last) if last.isdigit() else last] = value
    return out


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("boxes.1", [1.0, 2.0], "columns.boxes[1]"),
        ("boxes.0.2", -1.0, "columns.boxes[0][0]"),
        ("kinds.0", "PMOS", "columns.kinds[0]"),
        ("devices.0", "MX", "columns.devices[0]"),
        ("pins.net.2", "nowhere", "columns.pins.net[2]"),
        ("design", "ota2", "columns.design"),
    ],
)
def test_bad_columns_name_the_field(client: TestClient, example: Placement, path: str, value: object,
                                    field: str) -> None:
    columns = _edit(_columns(placements_json(example, 2, seed=24)), path, value)
    r = client.post("/label", json={"design": "ota1", "columns": columns})
    assert r.status_code == 422, r.text
    assert field in r.text, r.text


def test_one_form_a_request(client: TestClient, example: Placement) -> None:
    items = placements_json(example, 1, seed=25)
    for body in ({"design": "ota1"}, {"design": "ota1", "placements": items, "columns": _columns(items)}):
        r = client.post("/label", json=body)
        assert r.status_code == 422 and "give exactly one of 'placements' or 'columns'" in r.text, r.text


def test_body_limits_of_the_two_forms(settings: Settings, model_dir: Path, example: Placement) -> None:
    """A columnar /label body may pass PLACEQ_MAX_BODY_BYTES up to PLACEQ_MAX_LABEL_BODY_BYTES; the documented form
    may not (413 naming the field and the columnar way); /predict keeps the plain limit."""
    items = placements_json(example, 24, seed=26)
    documented = json.dumps({"design": "ota1", "placements": items}).encode()
    columnar = json.dumps({"design": "ota1", "columns": _columns(items)}).encode()
    small = json.dumps({"design": "ota1", "placements": items[:1]}).encode()
    assert len(small) < len(columnar) < len(documented) // 2
    limits = settings.model_copy(update={"max_body_bytes": len(small) - 1, "max_label_body_bytes": len(columnar)})
    headers = {"content-type": "application/json"}
    with TestClient(create_app(limits)) as client:
        ok = client.post("/label", content=columnar, headers=headers)
        assert ok.status_code == 202, ok.text
        r = client.post("/label", content=documented, headers=headers)
        assert r.status_code == 413 and "PLACEQ_MAX_LABEL_BODY_BYTES" in r.text, r.text
        r = client.post("/label", content=small, headers=headers)
        assert r.status_code == 413 and "placements:" in r.text and "'columns'" in r.text, r.text
        r = client.post("/predict", content=columnar, headers=headers)
        assert r.status_code == 413 and "PLACEQ_MAX_BODY_BYTES" in r.text, r.text
