"""Labelling in a child process that can be stopped: a time limit for simulations that hang, a clear reason for
ones that crash.

libngspice runs inside the calling process (ctypes), so a segfault there kills the caller and a hang blocks it in
C, where no Python timeout or signal handler reaches. A service job therefore simulates in a spawned child
process that leads its own process group: the caller reads progress and the result from a pipe, and at the
deadline kills the whole group (`ngspice -b` grandchildren included). The child kills its group too when its
parent disappears, so a SIGKILLed worker leaves no simulator running. Spawned, not forked: the caller may hold
threads (heartbeats) and database connections, and the library's global state must start fresh.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from placeq.batch import PlacementBatch
from placeq.domain import Circuit
from training.simulate.label import LabelTable, label_batch

ORPHAN_CHECK_S = 1.0
EXIT_WAIT_S = 5.0


class SimulationTimeout(RuntimeError):
    """Labelling ran past its time limit; the simulator was killed."""


class SimulationFailed(RuntimeError):
    """The simulating process crashed (killed by a signal) or raised; the message says which and why."""


def _orphan_watch(parent_pid: int) -> None:
    while True:
        time.sleep(ORPHAN_CHECK_S)
        if os.getppid() != parent_pid:  # the caller died: take the simulator down with this group
            os.killpg(0, signal.SIGKILL)


def _child(conn: Connection, parent_pid: int, circuit: Circuit, batch: PlacementBatch, kwargs: dict[str, Any]) -> None:
    os.setpgid(0, 0)  # lead a process group of our own: the caller kills ngspice -b children with it
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


def _stop(proc: Any) -> None:
    """Kill the child's process group (and the child, if it died before leading one); reap it."""
    if proc.pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    if proc.is_alive():
        proc.kill()
    proc.join(EXIT_WAIT_S)


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
    ctx = mp.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(sender, os.getpid(), circuit, batch, kwargs), name="placeq-label")
    deadline = time.monotonic() + time_limit_s
    proc.start()
    sender.close()
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SimulationTimeout(f"labelling ran past its time limit of {time_limit_s:g} s; ngspice was killed")
            if not receiver.poll(min(left, 0.5)):
                continue
            try:
                kind, value = receiver.recv()
            except EOFError:  # the pipe closed without a result: the child died
                proc.join(EXIT_WAIT_S)
                raise SimulationFailed(f"the simulator process {_exit_reason(proc.exitcode)}") from None
            if kind == "progress":
                if progress is not None:
                    progress(int(value))
            elif kind == "done":
                proc.join(EXIT_WAIT_S)
                table: LabelTable = value
                return table
            else:
                raise SimulationFailed(str(value))
    finally:
        _stop(proc)
        receiver.close()
        proc.close()
