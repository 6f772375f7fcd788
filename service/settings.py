"""Runtime configuration of the service, from environment variables prefixed ``PLACEQ_`` (or a ``.env`` file).

Embedded defaults (SQLite, blobs on local disk, jobs run by an in-process worker) make `placeq serve` work on a
fresh machine; a deployment sets ``PLACEQ_DATABASE_URL`` to PostgreSQL and ``PLACEQ_BROKER_URL`` to Redis.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOME = Path("var")
MAX_NETLIST_BYTES = 8 * 2**20  # the documented ceiling of a netlist in POST /designs (service.api.schemas)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLACEQ_", env_file=".env", env_ignore_empty=True, extra="ignore")

    home: Path = Field(default=DEFAULT_HOME, description="Directory for the embedded database, blobs and caches.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default sqlite:///<home>/placeq.db.")
    blob_root: Path | None = Field(default=None, description="ONNX artifact store; default <home>/blobs.")
    broker_url: str | None = Field(
        default=None, description="Celery broker (redis://...). Unset: the embedded worker runs jobs from SQL."
    )
    worker: Literal["embedded", "celery", "none"] = Field(
        default="embedded", description="Who runs jobs: a thread in the API process, Celery workers, or nobody."
    )
    base_model: Path | None = Field(
        default=None,
        description="Model directory (model.onnx + model.pt) or ONNX file published as the 'base' model on first "
        "start (default: the shipped service/assets/base_model).",
    )
    max_batch: int = Field(default=256, ge=1, le=4096, description="Most placements in one /predict call.")
    max_body_bytes: int = Field(
        default=16 * 2**20, ge=1024, description="Largest request body accepted (bytes); above it: 413, unread."
    )
    max_label_body_bytes: int = Field(
        default=96 * 2**20, ge=1024,
        description="Largest POST /label body (bytes), for jobs sent in columns (a 16,384-placement OTA1 job is "
        "65 MB); a body in the documented form stays within PLACEQ_MAX_BODY_BYTES.",
    )
    max_netlist_bytes: int = Field(
        default=2**20, ge=1, le=MAX_NETLIST_BYTES, description="Largest netlist POST /designs parses (bytes): 422."
    )
    max_queued_jobs: int = Field(
        default=1000, ge=1, description="Jobs queued or running before POST /label and /finetune answer 503."
    )
    ort_threads: int = Field(default=1, ge=0, le=64, description="onnxruntime intra-op threads per session.")
    max_inflight: int = Field(
        default=64, ge=1, description="Scoring requests in flight (queued for a thread included) before 503."
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, description="Longest a request body may take to arrive before the answer is 408."
    )
    reload_interval_s: float = Field(default=2.0, gt=0, description="How often each API process polls aliases.")
    job_stale_after_s: float = Field(default=120.0, gt=0, description="Heartbeat age after which a job is re-queued.")
    job_max_attempts: int = Field(default=3, ge=1, description="Deliveries of a job before it is marked failed.")
    job_soft_time_limit_s: float = Field(
        default=1800.0, gt=0, description="Celery soft time limit: the job gets an exception and is marked failed."
    )
    job_time_limit_s: float = Field(
        default=2100.0, gt=0, description="Celery hard time limit: the worker process running the job is killed."
    )
    label_time_limit_s: float = Field(
        default=1500.0,
        gt=0,
        description="Longest a labelling job may simulate (embedded and Celery): then ngspice is killed and the job "
        "fails with that reason. Keep it below the soft limit.",
    )
    label_chunk_placements: int = Field(
        default=1024,
        ge=1,
        description="A label job of more placements is split into chunks of this many, run by every worker at once "
        "(Celery) or one after another (embedded); each chunk is retried alone and stores its labels once.",
    )
    explore_chunk_placements: int = Field(
        default=1024,
        ge=1,
        description="An explore job places and scores its design space in chunks of this many placements, run by "
        "every worker at once (Celery) or one after another (embedded).",
    )
    label_backend: Literal["shared", "batch"] = Field(
        default="shared",
        description="ngspice of labelling jobs: the shared library (fast) or `ngspice -b` processes "
        "(executable: PLACEQ_NGSPICE, default ngspice on PATH).",
    )
    migrate_on_start: bool = Field(default=True, description="Run Alembic migrations when the app starts.")
    auth: bool = Field(
        default=False,
        description="Require API keys (`placeq keys create`). Off: the embedded, localhost-only dev mode.",
    )
    open_predict: bool = Field(
        default=False, description="With auth on, let predict-scope routes (scoring, reads) through without a key."
    )
    auth_outage_grace_s: float = Field(
        default=900.0,
        ge=0,
        description="While the database is unreachable, accept a key this process verified within this many "
        "seconds (0: refuse every key during an outage). Revocation is immediate whenever the database answers.",
    )

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'placeq.db').resolve()}"

    @property
    def blobs(self) -> Path:
        return self.blob_root or self.home / "blobs"


@lru_cache
def get_settings() -> Settings:
    return Settings()
