"""Labelling in a child process that can be stopped: a time limit for simulations that hang, a clear reason for
ones that crash.

libngspice runs inside the calling process (ctypes), so a segfault there kills the caller and a hang blocks it in
C, where no Python timeout or signal handler reaches. A service job therefore simulates in a child Python process
that leads its own session: the caller reads progress and the result from a pipe, and at the deadline kills the
child's whole process group (`ngspice -b` grandchildren included). The child kills its group too when its parent
disappears, so a SIGKILLed worker leaves no simulator running.

A plain subprocess, not `multiprocessing`: a Celery prefork child is a daemonic process, which `multiprocessing`
refuses to give children; and a fresh interpreter starts libngspice's global state clean. The child reads its
arguments as one pickle on stdin and answers on a dedicated pipe (ngspice may write to stdout).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from placeq.batch import PlacementBatch
from placeq.domain import Circuit
from simulate.label import LabelTable, label_batch

ORPHAN_CHECK_S = 1.0
EXIT_WAIT_S = 5.0
_IMPORT_ROOT = str(Path(__file__).resolve().parents[2])  # the directory holding `training` and `placeq`


class SimulationTimeout(RuntimeError):
    """Labelling ran past its time limit; the simulator was killed."""


class SimulationFailed(RuntimeError):
    """The simulating process crashed (killed by a signal) or raised; the message says which and why."""


def _orphan_watch(parent_pid: int) -> None:
    while True:
        time.sleep(ORPHAN_CHECK_S)
        if os.getppid() != parent_pid:  # the caller died: take the simulator down with this process group
            os.killpg(0, signal.SIGKILL)


def main() -> None:
    """Child entry: `python -m simulate.isolated <fd>`; arguments pickled on stdin, answers on <fd>."""
    conn = Connection(int(sys.argv[1]), readable=False)
    parent_pid, circuit, batch, kwargs = pickle.load(sys.stdin.buffer)
    threading.Thread(target=_orphan_watch, args=(parent_pid,), name="orphan-watch", daemon=True).start()
    try:
        table = label_batch(circuit, batch, progress=lambda n: conn.send(("progress", n)), **kwargs)
        conn.send(("done", table))
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code} without a result"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child's process group (it leads one from the start) and reap the child."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait(EXIT_WAIT_S)


def label_batch_isolated(
    circuit: Circuit,
    batch: PlacementBatch,
    *,
    time_limit_s: float,
    progress: Callable[[int], None] | None = None,
    **kwargs: Any,
) -> LabelTable:
    """`label_batch(circuit, batch, **kwargs)` in a killable child process.

    Raises `SimulationTimeout` after `time_limit_s` seconds (the simulator is killed), `SimulationFailed` when the
    child crashes or raises. `progress` is called here, in the caller, with the child's progress counts; an
    exception it raises (say, the job was taken away) stops the simulation too.
    """
    deadline = time.monotonic() + time_limit_s
    read_fd, write_fd = os.pipe()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_IMPORT_ROOT, os.environ.get("PYTHONPATH")]))}
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "simulate.isolated", str(write_fd)],
            stdin=subprocess.PIPE,
            pass_fds=(write_fd,),
            start_new_session=True,
            env=env,
        )
    finally:
        os.close(write_fd)
    receiver = Connection(read_fd, writable=False)
    try:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError), proc.stdin:  # a child that died at start is reported below
            pickle.dump((os.getpid(), circuit, batch, kwargs), proc.stdin)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SimulationTimeout(f"labelling ran past its time limit of {time_limit_s:g} s; ngspice was killed")
            if not receiver.poll(min(left, 0.5)):
                continue
            try:
                kind, value = receiver.recv()
            except EOFError:  # the pipe closed without a result: the child died
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(EXIT_WAIT_S)
                raise SimulationFailed(f"the simulator process {_exit_reason(proc.returncode)}") from None
            if kind == "progress":
                if progress is not None:
                    progress(int(value))
            elif kind == "done":
                table: LabelTable = value
                return table
            else:
                raise SimulationFailed(str(value))
    finally:
        _stop(proc)
        receiver.close()


if __name__ == "__main__":
    main()
