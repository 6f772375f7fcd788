"""The embedded worker's tie to `placeq serve`: the worker dies with its parent, however the parent ends.

Before issue 16 a `placeq serve` stopped by SIGTERM (docker stop, systemd, Kubernetes) or SIGKILL left its worker
running under PID 1, and the orphan kept taking jobs with the old code and settings beside the next server's
worker. Two ties, either sufficient:

- Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, set by the worker itself at start; the kernel kills it when the
  thread that started it (the supervisor thread of `placeq serve`) ends. The parent may have died before the
  call, so the worker then compares ``getppid()`` with the pid it was given.
- Anywhere: a pipe whose write end only the parent holds; a thread of the worker blocks reading the other end
  and gets end-of-file when the parent is gone, whatever killed it.

The worker then exits at once, mid-job or not: its job is still marked running on it, and the next supervisor's
worker re-queues it once the heartbeat is stale (`job_stale_after_s`); a graceful stop (SIGTERM or SIGINT to
`placeq serve`) instead lets the current job finish and re-queues at once what did not (cli/serve.py).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # linux/prctl.h
EXIT_PARENT_GONE = 3


def _parent_gone(why: str) -> None:
    log.error("placeq serve is gone (%s): the embedded worker stops now", why)
    logging.shutdown()
    os._exit(EXIT_PARENT_GONE)  # no cleanup that could block: the job is re-queued by the next worker


def _watch_pipe(fd: int) -> None:
    try:
        while os.read(fd, 1):  # the parent never writes; b"" is end-of-file: its write end closed
            pass
    except OSError as exc:
        _parent_gone(f"pipe error {exc}")
    _parent_gone("its pipe closed")


def tie_to_parent(parent_pid: int, pipe_fd: int | None) -> None:
    """Die when `parent_pid` dies (see the module docstring); call first thing in the worker process."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
                log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d; relying on the pipe", ctypes.get_errno())
        except (OSError, AttributeError) as exc:
            log.warning("prctl unavailable (%s); relying on the pipe", exc)
    if os.getppid() != parent_pid:  # died before the tie was made
        _parent_gone(f"parent {parent_pid} exited before the worker started")
    if pipe_fd is not None:
        threading.Thread(target=_watch_pipe, args=(pipe_fd,), name="placeq-parent-pipe", daemon=True).start()
