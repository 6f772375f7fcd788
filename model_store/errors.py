"""Exceptions of the model store. Callers (the API's one error handler, the workers) map them to outcomes.

    PlaceqError
     ├── InputError (placeq.errors)         bad input, `.field` names where -> HTTP 400/422
     │    ├── ArtifactInvalid                publish refused: not a loadable placeq ONNX model; nothing changed
     │    └── InvalidName                    an alias, kind or key that breaks the naming rules
     └── ModelStoreError
          ├── ModelVersionNotFound           no (design, version)                          -> 404
          ├── AliasNotFound                  the design has no such alias                  -> 404
          │    └── NoPreviousVersion          rollback with nothing to roll back to         -> 409
          ├── JobNotFound                    no job with that id                           -> 404
          ├── ApiKeyNotFound                 no API key with that id (revoke, CLI)
          ├── VersionNotReady                an alias may only point at a "ready" version  -> 409
          ├── VersionInUse                   archiving a version an alias points at        -> 409
          ├── DuplicateVersion               version numbers kept colliding (retries spent) -> 503
          ├── IdempotencyConflict            a key reused for a different request          -> 409
          ├── JobStateError                  an illegal job transition (finish a queued job) -> 409
          └── ArtifactCorrupt                a blob whose bytes no longer hash to its name  -> 500
"""

from __future__ import annotations

from placeq.errors import InputError, PlaceqError


class ModelStoreError(PlaceqError):
    """Base of the store's own (non-input) failures."""


class ArtifactInvalid(InputError):
    """The artifact is not a placeq model (onnxruntime refuses it, wrong input/output shape, bad metadata)."""


class InvalidName(InputError):
    """An alias, job kind or idempotency key outside the naming rules (they end up in URLs and logs)."""


class ModelVersionNotFound(ModelStoreError, LookupError):
    def __init__(self, design: str, version: int) -> None:
        super().__init__(f"no model version {design} v{version}")
        self.design = design
        self.version = version


class AliasNotFound(ModelStoreError, LookupError):
    def __init__(self, design: str, alias: str, message: str = "") -> None:
        super().__init__(message or f"design {design!r} has no alias {alias!r}")
        self.design = design
        self.alias = alias


class NoPreviousVersion(AliasNotFound):
    """Rollback asked for, but the alias was never anywhere else (or that version is gone)."""


class JobNotFound(ModelStoreError, LookupError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id!r}")
        self.job_id = job_id


class ApiKeyNotFound(ModelStoreError, LookupError):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"no API key {key_id!r}")
        self.key_id = key_id


class VersionNotReady(ModelStoreError):
    def __init__(self, design: str, version: int, status: str) -> None:
        super().__init__(f"{design} v{version} is {status!r}; an alias may only point at a 'ready' version")
        self.design = design
        self.version = version
        self.status = status


class VersionInUse(ModelStoreError):
    def __init__(self, design: str, version: int, aliases: list[str]) -> None:
        super().__init__(f"{design} v{version} is the target of alias(es) {aliases}; move them first")
        self.design = design
        self.version = version
        self.aliases = aliases


class DuplicateVersion(ModelStoreError):
    """Concurrent publishers kept taking the same version number; the retries ran out."""


class IdempotencyConflict(ModelStoreError):
    """An idempotency key already names a different request (another design or job kind)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"idempotency key {key!r}: {message}")
        self.key = key


class JobStateError(ModelStoreError):
    def __init__(self, job_id: str, state: str, wanted: str) -> None:
        super().__init__(f"job {job_id} is {state}; cannot {wanted}")
        self.job_id = job_id
        self.state = state


class ArtifactCorrupt(ModelStoreError):
    """A stored blob is missing or its bytes no longer hash to its sha256 (disk rot, tampering, partial copy)."""

    def __init__(self, sha256: str, message: str) -> None:
        super().__init__(f"artifact {sha256}: {message}")
        self.sha256 = sha256
