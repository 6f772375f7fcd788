"""Helpers shared by the service tests."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import redis
from sqlalchemy import text

from model_store import Job, JobState, ModelStore
from model_store.db import make_engine
from placeq.domain import Placement

T = TypeVar("T")


def placements_json(example: Placement, n: int, seed: int = 0) -> list[dict[str, object]]:
    """`n` variants of the example placement: devices shifted by whole microns (still a valid placement)."""
    rng = np.random.default_rng(seed)
    data = json.loads(example.model_dump_json())
    out = []
    for _ in range(n):
        dx = rng.integers(-3, 4, size=len(data["devices"]))
        shift = {d["name"]: float(s) for d, s in zip(data["devices"], dx, strict=True)}
        item = json.loads(json.dumps(data))
        for d in item["devices"]:
            d["x"] += shift[d["name"]]
        for p in item["pins"]:
            p["box"]["x0"] += shift[p["device"]]
            p["box"]["x1"] += shift[p["device"]]
        out.append(item)
    return out


# --- fault tests: real processes, a private Redis, a TCP proxy in front of PostgreSQL ---------------------------

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def is_ready(base: str) -> bool:
    """True once `placeq serve` at `base` answers /readyz with 200."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def wait_for(what: str, check: Callable[[], T | None], timeout: float, every: float = 0.1) -> T:
    """Poll `check` until it returns something other than None/False; AssertionError naming `what` after
    `timeout` s (a generous deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got is not None and got is not False:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached after {timeout} s")
        time.sleep(every)


def wait_job(store: ModelStore, job_id: str, states: set[JobState], timeout: float) -> Job:
    """The job's row once its state is one of `states`."""

    def check() -> Job | None:
        job = store.get_job(job_id)
        return job if job.state in states else None

    try:
        return wait_for(f"job {job_id} in {sorted(s.value for s in states)}", check, timeout, every=0.1)
    except AssertionError as exc:
        j = store.get_job(job_id)
        seen = f"{j.state.value}, attempt {j.attempts} on {j.worker}, progress {j.progress}, {j.message!r}, {j.error!r}"
        raise AssertionError(f"{exc}; it is {seen}") from None


def count_versions(url: str, design: str) -> int:
    """Model versions of `design`, counted in SQL (not through the store's API)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            n = conn.execute(text("SELECT count(*) FROM model_versions WHERE design = :d"), {"d": design}).scalar_one()
    finally:
        engine.dispose()
    return int(n)


def finetune_payload(example: Placement, *, epochs: int, seed: int = 5, n: int = 16) -> dict[str, Any]:
    """The payload POST /finetune stores for a job (0/1 labels, not activated)."""
    return {
        "design": "ota1",
        "placements": placements_json(example, n, seed=seed),
        "labels": [0, 1] * (n // 2),
        "epochs": epochs,
        "activate": False,
        "values": None,
        "base_version": None,
    }


def service_env(**env: str | Path | float) -> dict[str, str]:
    """os.environ plus PLACEQ_* settings for a worker subprocess (keys without the prefix, upper-cased)."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("PLACEQ_")}
    out.update({f"PLACEQ_{k.upper()}": str(v) for k, v in env.items()})
    out["PYTHONPATH"] = str(REPO)
    return out


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`args` in its own process group (so the whole tree can be killed), output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)


def start_celery_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A real `celery -A service.workers.celery_app worker` (prefork, one child), as compose runs it."""
    name = f"faults-{uuid.uuid4().hex[:8]}@%h"
    return start_process(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "service.workers.celery_app",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            name,
        ],
        env,
        log,
    )


def start_embedded_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return start_process([sys.executable, "-m", "cli", "worker"], env, log)


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL, timeout: float = 60) -> None:
    """Send `sig` to the process group of `proc` (a worker and its pool children) and reap `proc`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def pid_alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def log_tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else f"(no {path})"


class RedisServer:
    """A private redis-server on a free port, configured as docker-compose runs it (append-only file,
    `noeviction`), so a test can stop and restart it without touching the machine's shared Redis."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def ping(self) -> bool:
        try:
            with redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        with (self.dir / "redis.log").open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "everysec",
                    "--maxmemory-policy",
                    "noeviction",
                    "--dir",
                    str(self.dir),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(f"redis-server on port {self.port}", self.ping, timeout=30)

    def stop(self) -> None:
        """SIGTERM, as `docker compose stop` sends: Redis fsyncs its append-only file and exits."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=30)
            self.proc = None


class TcpProxy:
    """127.0.0.1:`port` -> `target`, to take a database away from one process without touching the server.

    `down()` closes every connection and refuses new ones (the server crashed or restarts); `silent()` closes
    every connection and accepts new ones but never answers (a host that stopped answering); `up()` forwards
    again on the same port. One thread moves the bytes (selectors); each call returns once it has taken effect.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._sel = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._peers: dict[socket.socket, socket.socket] = {}
        self._held: list[socket.socket] = []
        self._silent = False
        self._commands: queue.Queue[tuple[str, threading.Event]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)

    # -- control (any thread) ----------------------------------------------------------------------------
    def up(self) -> None:
        self._command("up")

    def down(self) -> None:
        self._command("down")

    def silent(self) -> None:
        self._command("silent")

    def _command(self, name: str) -> None:
        done = threading.Event()
        self._commands.put((name, done))
        if not done.wait(10):
            raise AssertionError(f"proxy did not apply {name!r}")

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self._command("stop")
        self._thread.join(timeout=10)

    # -- the proxy thread ----------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            while not self._commands.empty():
                name, done = self._commands.get()
                self._apply(name)
                done.set()
                if name == "stop":
                    self._sel.close()
                    return
            for key, _ in self._sel.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    self._accept()
                elif sock in self._peers:
                    self._pump(sock)

    def _apply(self, name: str) -> None:
        for sock in list(self._peers):
            self._drop(sock)
        for sock in self._held:
            sock.close()
        self._held.clear()
        self._silent = name == "silent"
        if name in ("up", "silent") and self._listener is None:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self._listener = listener
            self._sel.register(listener, selectors.EVENT_READ)
        elif name in ("down", "stop") and self._listener is not None:
            self._sel.unregister(self._listener)
            self._listener.close()
            self._listener = None

    def _accept(self) -> None:
        assert self._listener is not None
        client, _ = self._listener.accept()
        if self._silent:
            self._held.append(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        self._peers[client], self._peers[upstream] = upstream, client
        self._sel.register(client, selectors.EVENT_READ)
        self._sel.register(upstream, selectors.EVENT_READ)

    def _pump(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
            if data:
                self._peers[sock].sendall(data)
                return
        except OSError:
            pass
        self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        peer = self._peers.pop(sock, None)
        for s in (sock, peer):
            if s is None:
                continue
            self._peers.pop(s, None)
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(s)
            s.close()


FAKE_NGSPICE = """#!/bin/sh
# A stand-in for ngspice whose behaviour the test picks by writing into ./mode: "ok" (the real ngspice), "segv"
# (ngspice crashes), "segv-parent" (the process that runs ngspice crashes, as a libngspice segfault would kill
# it), "hang" or "slow" (the real ngspice after a second's sleep: a job long enough to be killed in the middle).
here=$(dirname "$0")
if [ "$1" = "-v" ]; then echo "ngspice-fault-injection"; exit 0; fi
echo $$ >> "$here/pids"
case "$(cat "$here/mode")" in
  segv) kill -SEGV $$ ;;
  segv-parent) kill -SEGV $PPID; exec sleep 3600 ;;
  hang) exec sleep 3600 ;;
  slow) sleep 1; exec ngspice "$@" ;;
  *) exec ngspice "$@" ;;
esac
"""


def fake_ngspice(directory: Path, mode: str = "ok") -> Path:
    """An executable `ngspice` stand-in in `directory` (see FAKE_NGSPICE); write its mode into `directory`/mode."""
    directory.mkdir(parents=True, exist_ok=True)
    exe = directory / "ngspice"
    exe.write_text(FAKE_NGSPICE)
    exe.chmod(0o755)
    (directory / "mode").write_text(mode)
    return exe


@contextlib.contextmanager
def live_api(home: Path, *, worker: bool = False, **settings: str | Path) -> Iterator[str]:
    """The base URL of `placeq serve` with PLACEQ_* `settings` (home under `home`), until exit; with `worker`,
    the embedded worker runs jobs as in the README's main command, else `--no-worker`."""

    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = service_env(home=home, worker="embedded" if worker else "none", **settings)
    log = home / "serve.log"
    args = [sys.executable, "-m", "cli", "serve", "--port", str(port)] + ([] if worker else ["--no-worker"])
    proc = start_process(args, env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"placeq serve on {base}", lambda: is_ready(base) or (proc.poll() is not None and "exited"), 120)
        if proc.poll() is not None:
            raise AssertionError(f"placeq serve exited with {proc.returncode}:\n{log_tail(log)}")
        yield base
    finally:
        kill_group(proc, signal.SIGTERM)
