"""Content-addressed blob store for ONNX artifacts: a blob's name is the sha256 of its bytes.

Layout: ``<root>/sha256/<first two hex>/<64 hex>`` (two-level fan-out keeps directories small). A write goes to a
temporary file in ``<root>/tmp`` (same filesystem), is fsynced, re-read and hashed, and only then renamed into
place (atomic on POSIX), after which the directory is fsynced; a crash leaves either no blob or a whole one.
Every read hashes the bytes again, so a truncated copy, disk rot or tampering is caught before onnxruntime
(or a user) ever sees the model: `ArtifactCorrupt`.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from model_store.errors import ArtifactCorrupt

_SHA = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class BlobRef:
    sha256: str
    size: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """A local directory of immutable blobs (the default; a deployment mounts a shared volume here)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        if not _SHA.match(sha256):  # also keeps names from escaping the root
            raise ArtifactCorrupt(sha256, "not a sha256 hex digest")
        return self.root / "sha256" / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put(self, data: bytes) -> BlobRef:
        """Store `data` under its sha256; idempotent, and heals a corrupt copy already at that name."""
        digest = sha256_hex(data)
        final = self.path(digest)
        if final.is_file():
            try:
                self.get(digest)
                return BlobRef(digest, len(data))
            except ArtifactCorrupt:
                pass  # overwrite the damaged copy with the good bytes below
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix=digest[:12] + ".")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            if sha256_hex(tmp.read_bytes()) != digest:
                raise ArtifactCorrupt(digest, f"write verification failed at {tmp}")
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(final.parent)
        return BlobRef(digest, len(data))

    def get(self, sha256: str) -> bytes:
        """The blob's bytes, verified; `ArtifactCorrupt` if missing or if they do not hash to `sha256`."""
        path = self.path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ArtifactCorrupt(sha256, f"blob missing at {path}") from None
        got = sha256_hex(data)
        if got != sha256:
            raise ArtifactCorrupt(sha256, f"checksum mismatch: the stored bytes hash to {got}")
        return data
