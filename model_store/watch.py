"""The cheap poll behind "activation reaches every API process": watch the alias revision, reload on change.

Each API process runs one `AliasWatcher`. Every `interval_s` it reads `store.alias_revision()` (one primary-key
read); only when that differs from the last revision it handled does it read the alias map and call `on_change`
with design -> `ModelVersion`. The revision is read *before* the map, so a move that lands in between is seen
twice (harmless), never missed. If `on_change` raises, the revision is not marked as handled and the next poll
tries again; `on_change` should itself load and warm new sessions before swapping them in, keeping the old model
for any design whose new version fails (the service's `ModelCache.refresh` does).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from model_store.records import LIVE, ModelVersion
from model_store.store import ModelStore

log = logging.getLogger(__name__)


class AliasWatcher:
    def __init__(
        self,
        store: ModelStore,
        on_change: Callable[[dict[str, ModelVersion]], None],
        *,
        alias: str = LIVE,
        interval_s: float = 2.0,
    ) -> None:
        self.store = store
        self.on_change = on_change
        self.alias = alias
        self.interval_s = interval_s
        self.seen: int | None = None  # last revision handled; None: nothing loaded yet
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> bool:
        """Handle a revision change if there is one; True when `on_change` ran (and returned)."""
        rev = self.store.alias_revision()
        if rev == self.seen:
            return False
        self.on_change(self.store.aliases(alias=self.alias))
        self.seen = rev
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # a database blip or a failed load: keep serving, retry next tick
                log.exception("alias watch failed; retrying in %.1f s", self.interval_s)
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        """Poll in a daemon thread (call `poll_once` first if start-up must wait for the first load)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="alias-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
