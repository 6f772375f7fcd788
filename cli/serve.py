"""`placeq serve`, `placeq worker` and `placeq migrate`: run the service (needs the `serve` extra)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.settings import Settings

log = logging.getLogger("placeq.serve")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the API (and, by default, a local worker) on embedded defaults: SQLite, the shipped base model",
        description="Run the prediction API with uvicorn. Configuration comes from PLACEQ_* environment variables "
        "(see service/settings.py); by default everything lives under ./var (SQLite database, model blobs) and a "
        "local worker process runs labelling and fine-tuning jobs from the database.",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--no-worker", action="store_true", help="do not start the local worker (deployments)")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (API replicas)")
    p.add_argument("--insecure", action="store_true",
                   help="allow a non-loopback --host with access control off (PLACEQ_AUTH unset): anyone who "
                   "reaches the port may fine-tune and activate models")
    p.set_defaults(handler=_serve)

    w = sub.add_parser("worker", help="run a job worker: embedded (jobs from SQL) or Celery (--celery)")
    w.add_argument("--celery", action="store_true", help="run a Celery worker on PLACEQ_BROKER_URL")
    w.add_argument("--concurrency", type=int, default=1, help="Celery worker processes (default 1)")
    w.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)  # set by `placeq serve`
    w.add_argument("--parent-pipe", type=int, default=None, help=argparse.SUPPRESS)
    w.set_defaults(handler=_worker)

    m = sub.add_parser("migrate", help="apply the database migrations (Alembic) to PLACEQ_DATABASE_URL")
    m.set_defaults(handler=_migrate)


def _supervise(stop: threading.Event, requeue: Callable[[int], None]) -> None:
    """Keep one embedded worker process alive beside the API. The child is tied to this process (a pipe it
    watches and, on Linux, a parent-death signal: service.workers.lifeline), so it never outlives `placeq
    serve`. When a child exits, killed or stopped, `requeue(pid)` puts the job it held back in the queue at once
    instead of after the stale window; a killed worker is then restarted."""
    while not stop.is_set():
        read_end, write_end = os.pipe()  # the child watches read_end; only this process holds write_end
        try:
            proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "cli", "worker", "--parent-pid", str(os.getpid()),
                 "--parent-pipe", str(read_end)],
                env=os.environ.copy(), pass_fds=(read_end,),
            )
        finally:
            os.close(read_end)
        try:
            while proc.poll() is None and not stop.is_set():
                time.sleep(0.5)
            if stop.is_set():
                proc.terminate()  # the worker finishes its current job first
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finally:
            os.close(write_end)
        requeue(proc.pid)
        if stop.is_set():
            return
        log.warning("embedded worker exited with %s; restarting", proc.returncode)
        time.sleep(1)


def _requeue_dead(settings: Settings) -> Callable[[int], None]:
    """`requeue(pid)`: the running jobs of the worker that was process `pid` go back to the queue (or fail after
    `job_max_attempts`)."""
    from model_store import ModelStore
    from service.workers.runner import worker_name

    def requeue(pid: int) -> None:
        try:
            with ModelStore(settings.db_url, settings.blobs) as store:
                for job in store.requeue_worker(worker_name(pid), max_attempts=settings.job_max_attempts):
                    log.warning("job %s of the exited worker %d: now %s", job.id, pid, job.state.value)
        except Exception as exc:  # the database is down: the stale-heartbeat reaper will do it later
            log.error("could not re-queue the jobs of worker %d: %s", pid, exc)

    return requeue


class _Terminated(SystemExit):
    """SIGTERM, raised where uvicorn re-raises it after its graceful shutdown, so `finally:` stops the worker."""


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise _Terminated(128 + signum)


def _is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.settings import get_settings

    settings = get_settings()
    if not settings.auth and not args.insecure and not _is_loopback(args.host):
        print(f"placeq serve: refusing to listen on {args.host} with access control off: anyone who reaches the "
              "port could fine-tune and activate models. Set PLACEQ_AUTH=true and create a key with `placeq keys "
              "create --name admin --scope admin`, bind 127.0.0.1, or pass --insecure.", file=sys.stderr)
        return 2
    stop = threading.Event()
    supervisor = None
    if not args.no_worker and settings.worker == "embedded":
        from model_store import upgrade

        settings.home.mkdir(parents=True, exist_ok=True)
        upgrade(settings.db_url)  # before two processes race to create the schema
        supervisor = threading.Thread(target=_supervise, args=(stop, _requeue_dead(settings)), daemon=True)
        supervisor.start()
    # uvicorn handles SIGINT and SIGTERM itself, shuts down, restores the handlers it found and re-raises the
    # signal: SIGINT's default raises KeyboardInterrupt, SIGTERM's would end the process without `finally:` and
    # orphan the worker (issue 16). This handler turns the re-raised SIGTERM into SystemExit(143).
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        uvicorn.run("service.api.app:create_app", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level="info")
    finally:
        stop.set()
        if supervisor is not None:
            supervisor.join(timeout=35)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from service.settings import get_settings

    settings = get_settings()
    if args.celery:
        from service.workers.celery_app import make_celery

        app = make_celery(settings.broker_url)
        app.worker_main(["worker", "--loglevel=INFO", f"--concurrency={args.concurrency}", "--pool=prefork"])
        return 0
    from model_store import ModelStore, upgrade
    from service.workers.embedded import EmbeddedWorker

    if args.parent_pid is not None:
        from service.workers.lifeline import tie_to_parent

        tie_to_parent(args.parent_pid, args.parent_pipe)

    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)
    EmbeddedWorker(ModelStore(settings.db_url, settings.blobs), settings).run_forever()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from model_store import upgrade
    from service.settings import get_settings

    settings = get_settings()
    upgrade(settings.db_url)
    print(f"database at head: {settings.db_url}")
    return 0
