"""A real `placeq serve` (uvicorn) on a free port, for tests that need real HTTP: raw sockets, chunked bodies,
schemathesis over the network."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from service_helpers import free_port, is_ready, kill_group, log_tail, service_env, start_process, wait_for


@contextmanager
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
