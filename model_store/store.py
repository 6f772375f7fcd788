"""`ModelStore`: one object for the service's persistent state (versions, aliases, jobs, designs, blobs).

It composes the parts (`Registry`, `Aliases`, `Jobs`, `Designs`) over one `Database` and one `BlobStore`; the
service's API keys are a facade of their own, `store.keys` (`model_store.keys.ApiKeys`).
It is thread-safe (each call is its own transaction on a pooled connection) and cheap to share per process.
It never migrates on its own: run `model_store.upgrade(url)` first (the service does at start-up).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from sqlalchemy.engine import URL

from model_store.aliases import Aliases
from model_store.blobs import BlobStore
from model_store.db import Database
from model_store.designs import Designs
from model_store.jobs import Jobs
from model_store.keys import ApiKeys
from model_store.registry import Registry


class ModelStore(Registry, Aliases, Jobs, Designs):
    """Model versions + aliases + jobs + designs in SQL (`url`), ONNX artifacts under `blob_root`."""

    def __init__(self, url: str | URL, blob_root: str | Path, *, echo: bool = False) -> None:
        self.db = Database(url, echo=echo)
        self.blobs = BlobStore(blob_root)
        self.keys = ApiKeys(self.db)

    @property
    def url(self) -> URL:
        return self.db.url

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> ModelStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
