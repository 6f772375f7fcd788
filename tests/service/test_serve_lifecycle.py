"""`placeq serve` and its embedded worker, started as a user starts them (the console script, from a directory of
their own): the worker never outlives the server, whatever signal ends it; a worker that dies mid-job has its job
re-queued at once; and the worker never imports modules from the directory the server was started in (issue 16,
findings 1, 7 and 8)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from service_helpers import finetune_payload, free_port, is_ready, log_tail, pid_alive, service_env, wait_for, wait_job

from model_store import Job, JobState, ModelStore
from placeq.domain import Placement

PLACEQ = Path(sys.executable).parent / "placeq"  # the console script: no directory of the caller on sys.path
STRAY = "import os, sys\nopen({marker!r}, 'a').write(f'{{os.getpid()}} {{sys.argv}}\\n')\n"


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@contextmanager
def serve(tmp: Path, model_dir: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """`placeq serve` on embedded defaults (SQLite and blobs under a fresh PLACEQ_HOME, the local worker), run
    from a working directory holding a stray `queue.py` that records who imports it."""
    cwd, home = tmp / "cwd", tmp / "home"
    cwd.mkdir()
    marker = tmp / "stray-imported.txt"
    (cwd / "queue.py").write_text(STRAY.format(marker=str(marker)))
    env = service_env(home=home, base_model=model_dir)
    env.pop("PYTHONPATH")  # installed in the virtual environment: nothing else on the path
    port = free_port()
    log = tmp / "serve.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([str(PLACEQ), "serve", "--port", str(port)], env=env, cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for("placeq serve", lambda: is_ready(base) or (proc.poll() is not None and "exited"), 120)
        assert proc.poll() is None, log_tail(log)
        wait_for("its embedded worker", lambda: _children(proc.pid) or None, 30)
        yield proc, base, marker
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group: a worker left behind by a failed test too
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_worker_dies_with_placeq_serve(tmp_path: Path, model_dir: Path, sig: signal.Signals) -> None:
    with serve(tmp_path, model_dir) as (proc, _, marker):
        (worker,) = _children(proc.pid)
        proc.send_signal(sig)  # the server only, as docker stop / systemd / the OOM killer would
        proc.wait(timeout=60)
        wait_for(f"worker {worker} to exit", lambda: not pid_alive(worker) or None, 10)
    if sig == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM  # the SIGTERM handler ran the shutdown, then exited
    assert not marker.exists(), marker.read_text()  # the stray queue.py in the cwd was never imported


def test_worker_killed_mid_job_is_requeued_at_once(tmp_path: Path, model_dir: Path, example: Placement) -> None:
    """The supervisor sees its child die and re-queues its job without waiting the stale window (120 s here)."""
    with serve(tmp_path, model_dir) as (proc, base, _):
        body = json.dumps(finetune_payload(example, epochs=40)).encode()
        req = urllib.request.Request(f"{base}/finetune", data=body, headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            job_id = json.loads(r.read())["id"]
        home = tmp_path / "home"
        with ModelStore(f"sqlite:///{(home / 'placeq.db').resolve()}", home / "blobs") as store:
            job = wait_job(store, job_id, {JobState.RUNNING}, timeout=60)
            assert job.worker is not None
            holder = int(job.worker.rsplit(":", 1)[1])
            os.kill(holder, signal.SIGKILL)

            def requeued() -> Job | None:
                j = store.get_job(job_id)
                return j if j.attempts >= 2 or j.state == JobState.QUEUED else None

            again = wait_for("the job re-queued", requeued, 15)
            assert again.state in (JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED), again
            assert again.worker != job.worker
