"""ONNX scoring: one onnxruntime session per model version, swapped atomically when an alias moves.

Why this shape (see docs/service.md): onnxruntime sessions are safe to run from many threads, so each version
has exactly one; a new version is loaded and warmed *before* the live pointer moves, so a failed load leaves
the old model serving and no request ever sees a half-loaded one (Triton's reload semantics).

Memory: onnxruntime's CPU arena keeps the most it ever held. A batch is run in bucket-sized pieces (1, 8, 64),
so no single run is larger than the largest bucket, and at most `run_slots` runs are in flight per process, so
concurrent requests cannot stack whole batches of activations into the arena (docs/performance.md: 8 callers of
batch 64 took a feat3d server from 0.9 GB to 6.1 GB before this bound).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import onnxruntime as ort

from placeq.artifact import BASE_DESIGN, KIND_TO_CHANNELS, InputKind, SignatureError, check_signature, ports
from placeq.features import IMAGE_SIZE

log = logging.getLogger(__name__)

BATCH_BUCKETS: tuple[int, ...] = (1, 8, 64)


class ModelLoadError(RuntimeError):
    """An artifact that onnxruntime refuses, or whose inputs and outputs are not a placeq model's."""


@dataclass(frozen=True)
class LoadedModel:
    """A warmed onnxruntime session with what the API reports next to each score."""

    design: str
    version: int
    sha256: str
    threshold: float
    input_kind: InputKind  # "feat" (B, 18, 64, 64) or "nofeat" (B, 2, 64, 64)
    output_kind: str  # "logit" or "probability"
    session: ort.InferenceSession = field(repr=False, compare=False)
    input_name: str = "features"
    output_name: str = "logit"
    threads: int = 1  # onnxruntime intra-op threads of `session`

    @property
    def channels(self) -> int:
        return KIND_TO_CHANNELS[self.input_kind]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(B, C, 64, 64) float32 -> (B,) probability of being a bad (worst-quartile) layout."""
        out = np.empty(len(x), dtype=np.float32)
        slots = run_slots(self.threads)
        start = 0
        for n in bucket_chunks(len(x)):
            with slots:
                raw = self.session.run([self.output_name], {self.input_name: x[start : start + n]})[0]
            out[start : start + n] = raw.reshape(n, -1)[:, 0]
            start += n
        if self.output_kind == "logit":
            out = (1.0 / (1.0 + np.exp(-out))).astype(np.float32)
        return out


def bucket_chunks(n: int) -> list[int]:
    """Sizes of the runs that score `n` layouts, largest bucket first (77 -> 64, 8, 1, 1, 1, 1, 1).

    Every run has a warmed shape and no padding is computed: padding 9 layouts up to 64 would spend 7x the
    CPU, while onnxruntime's CPU time per layout is the same at batch 1, 8 and 64 (docs/performance.md).
    """
    sizes: list[int] = []
    for bucket in sorted(BATCH_BUCKETS, reverse=True):
        k, n = divmod(n, bucket)
        sizes += [bucket] * k
    return sizes


@lru_cache
def run_slots(threads: int) -> threading.BoundedSemaphore:
    """How many session runs may be in flight in this process: as many as the cores hold at `threads` each.

    More would not add throughput, but each grows the session's arena by a whole batch's activations (about
    0.6 GB for feat3d at batch 64) and the arena never gives them back.
    """
    cores = len(os.sched_getaffinity(0))
    return threading.BoundedSemaphore(max(1, cores // (threads or cores)))


def make_session(onnx_bytes: bytes, *, threads: int = 1) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(onnx_bytes, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelLoadError(f"onnxruntime cannot load the artifact: {exc}") from exc


def load_model(
    onnx_bytes: bytes, *, design: str, version: int, sha256: str, threshold: float, threads: int = 1
) -> LoadedModel:
    """Load, check the signature and warm every batch bucket; raise `ModelLoadError` before anyone uses it."""
    session = make_session(onnx_bytes, threads=threads)
    try:
        sig = check_signature(ports(session.get_inputs()), ports(session.get_outputs()))
    except SignatureError as exc:
        raise ModelLoadError(str(exc)) from exc
    model = LoadedModel(
        design=design,
        version=version,
        sha256=sha256,
        threshold=threshold,
        input_kind=sig.input_kind,
        output_kind=sig.output_kind,
        session=session,
        input_name=sig.input_name,
        output_name=sig.output_name,
        threads=threads,
    )
    for bucket in BATCH_BUCKETS:
        probs = model.predict(np.zeros((bucket, model.channels, IMAGE_SIZE, IMAGE_SIZE), np.float32))
        if not np.all(np.isfinite(probs)):
            raise ModelLoadError("warm-up produced non-finite scores")
    return model


@dataclass(frozen=True)
class LiveRef:
    """What the store says is live for one design."""

    design: str
    version: int
    sha256: str
    threshold: float


class ModelCache:
    """Per-process map design -> live `LoadedModel`, plus pinned versions loaded on demand.

    `refresh` is called by a poller whenever the store's alias revision changes; each changed design gets its
    new session loaded and warmed first and is then swapped in with one dict assignment (atomic under the GIL),
    so concurrent requests see either the old or the new model, never none.
    """

    def __init__(self, fetch: Callable[[str, int], bytes], *, threads: int = 1, max_pinned: int = 8) -> None:
        self._fetch = fetch
        self._threads = threads
        self._max_pinned = max_pinned
        self._live: dict[str, LoadedModel] = {}
        self._pinned: dict[tuple[str, int], LoadedModel] = {}
        self._lock = threading.Lock()  # serializes loads, never held while scoring

    @property
    def live(self) -> dict[str, LoadedModel]:
        return dict(self._live)

    def _load(self, ref: LiveRef) -> LoadedModel:
        for m in [*self._live.values(), *self._pinned.values()]:
            if (m.design, m.version) == (ref.design, ref.version) and m.threshold == ref.threshold:
                return m
        blob = self._fetch(ref.design, ref.version)
        return load_model(
            blob, design=ref.design, version=ref.version, sha256=ref.sha256, threshold=ref.threshold,
            threads=self._threads,
        )

    def borrow(self, ref: LiveRef) -> LoadedModel:
        """A model for one-off use: the live or pinned one when it is loaded, else one loaded now and not kept, so a
        sweep over many versions (`GET /designs/{name}/progress`) does not evict the versions /predict pins."""
        return self._load(ref)

    def refresh(self, refs: Iterable[LiveRef]) -> list[str]:
        """Bring the live map in line with `refs`; returns errors (a design whose new version failed to load
        keeps serving its old one)."""
        errors: list[str] = []
        with self._lock:
            wanted = {r.design: r for r in refs}
            new_live = dict(self._live)
            for design, ref in wanted.items():
                cur = new_live.get(design)
                if cur is not None and cur.version == ref.version and cur.threshold == ref.threshold:
                    continue
                try:
                    new_live[design] = self._load(ref)
                    log.info("live model for %s is now version %d", design, ref.version)
                except Exception as exc:  # keep the old model; report why
                    errors.append(f"{design} v{ref.version}: {exc}")
                    log.error("keeping %s live: loading v%d failed: %s", design, ref.version, exc)
            for design in set(new_live) - set(wanted):
                del new_live[design]
            self._live = new_live  # the one atomic swap
        return errors

    def resolve(self, design: str, pinned: LiveRef | None = None) -> LoadedModel | None:
        """The model to score `design` with: a pinned version, else its live one, else the base model."""
        if pinned is not None:
            key = (pinned.design, pinned.version)
            model = self._pinned.get(key)
            if model is None:
                with self._lock:
                    model = self._pinned.get(key) or self._load(pinned)
                    if len(self._pinned) >= self._max_pinned:
                        self._pinned.pop(next(iter(self._pinned)))
                    self._pinned[key] = model
            return model
        live = self._live
        return live.get(design) or live.get(BASE_DESIGN)
