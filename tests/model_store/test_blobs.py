"""Content-addressed blobs: a blob's name is its sha256, and a read that does not hash to it is refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from model_store import ArtifactCorrupt, BlobStore


def test_put_get_roundtrip_names_blob_by_sha256(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(b"onnx bytes")
    assert ref.sha256 == hashlib.sha256(b"onnx bytes").hexdigest()
    assert ref.size == 10
    assert blobs.get(ref.sha256) == b"onnx bytes"
    assert blobs.path(ref.sha256).parent.name == ref.sha256[:2]
    assert list((tmp_path / "tmp").iterdir()) == []  # no temp files left behind


def test_put_is_idempotent(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    a, b = blobs.put(b"same"), blobs.put(b"same")
    assert a == b
    assert len(list((tmp_path / "sha256").rglob("*"))) == 2  # one fan-out dir, one file


def test_tampered_blob_is_detected(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(b"the real model")
    blobs.path(ref.sha256).write_bytes(b"the evil model")
    with pytest.raises(ArtifactCorrupt, match="checksum mismatch"):
        blobs.get(ref.sha256)


def test_missing_blob_is_reported(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(b"x")
    blobs.path(ref.sha256).unlink()
    with pytest.raises(ArtifactCorrupt, match="missing"):
        blobs.get(ref.sha256)


def test_put_heals_a_corrupt_copy(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(b"model")
    blobs.path(ref.sha256).write_bytes(b"rot")
    blobs.put(b"model")
    assert blobs.get(ref.sha256) == b"model"


@pytest.mark.parametrize("name", ["../../etc/passwd", "ABC", "0" * 63, ("0" * 63) + "/"])
def test_names_that_are_not_digests_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ArtifactCorrupt, match="not a sha256"):
        BlobStore(tmp_path).get(name)
