"""The embedded mode (`placeq serve`'s local worker, SQLite, no broker) loses no job when its worker is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from service_helpers import placements_json

from model_store import BASE_DESIGN, JobState, ModelStore, publish_model_dir, upgrade
from placeq.domain import Placement
from service.api.app import EXAMPLE


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "cli", "worker"], env=env, stdout=out, stderr=out)


def _wait(store: ModelStore, job_id: str, until: set[JobState], timeout: float) -> JobState:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = store.get_job(job_id).state
        if state in until:
            return state
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {store.get_job(job_id).state} after {timeout} s")


def test_sigkilled_worker_loses_no_job_and_publishes_once(tmp_path: Path, model_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'placeq.db'}"
    upgrade(url)
    store = ModelStore(url, tmp_path / "blobs")
    base = publish_model_dir(store, model_dir, design=BASE_DESIGN, created_by="test", activate=True)
    assert base.version == 1
    example = Placement.model_validate_json(EXAMPLE.read_text())
    job = store.create_job("finetune", "ota1", {
        "design": "ota1", "placements": placements_json(example, 16, seed=5), "labels": [0, 1] * 8,
        "epochs": 25, "activate": False, "values": None, "base_version": None,
    })
    env = {**os.environ, "PLACEQ_HOME": str(tmp_path), "PLACEQ_DATABASE_URL": url,
           "PLACEQ_BLOB_ROOT": str(tmp_path / "blobs"), "PLACEQ_JOB_STALE_AFTER_S": "4"}

    first = _worker(env, tmp_path / 'worker1.log')
    try:
        _wait(store, job.id, {JobState.RUNNING}, timeout=60)
        time.sleep(1.0)  # well inside the fine-tune
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    assert store.get_job(job.id).state == JobState.RUNNING  # the dead worker's claim is still there

    second = _worker(env, tmp_path / 'worker2.log')
    try:
        state = _wait(store, job.id, {JobState.SUCCEEDED, JobState.FAILED}, timeout=240)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
    done = store.get_job(job.id)
    assert state == JobState.SUCCEEDED, (done.error, (tmp_path / "worker2.log").read_text()[-2000:])
    assert done.attempts == 2
    versions = store.list_versions("ota1")
    assert [v.version for v in versions] == [1]  # published exactly once
    assert versions[0].parent is not None and versions[0].parent.design == BASE_DESIGN
    assert done.result is not None and done.result["version"] == 1
    store.close()
