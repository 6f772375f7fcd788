"""Initial schema: model versions, aliases + append-only alias history, jobs, registered designs.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Frozen copies of the column types (a migration must not change when orm.py does).
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
NAME = sa.String(length=128)


def upgrade() -> None:
    op.create_table(
        "store_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alias_revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_state")),
    )
    op.bulk_insert(
        sa.table("store_state", sa.column("id", sa.Integer()), sa.column("alias_revision", sa.BigInteger())),
        [{"id": 1, "alias_revision": 0}],
    )
    op.create_table(
        "designs",
        sa.Column("name", NAME, nullable=False),
        sa.Column("circuit", JSON, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_designs")),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("design", NAME, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("arch", sa.String(length=64), nullable=False),
        sa.Column("input_kind", sa.String(length=16), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("onnx_metadata", JSON, nullable=False),
        sa.Column("parent_id", BIG_ID, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", NAME, nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.CheckConstraint("input_kind IN ('feat', 'nofeat')", name=op.f("ck_model_versions_input_kind_known")),
        sa.CheckConstraint("status IN ('ready', 'rejected', 'archived')", name=op.f("ck_model_versions_status_known")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_model_versions_version_positive")),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["model_versions.id"],
            name=op.f("fk_model_versions_parent_id_model_versions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("design", "version", name=op.f("uq_model_versions_design_version")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_model_versions_idempotency_key")),
    )
    op.create_index(op.f("ix_model_versions_sha256"), "model_versions", ["sha256"], unique=False)
    op.create_table(
        "aliases",
        sa.Column("design", NAME, nullable=False),
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("version_id", BIG_ID, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", NAME, nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_aliases_version_id_model_versions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("design", "alias", name=op.f("pk_aliases")),
    )
    op.create_index(op.f("ix_aliases_version_id"), "aliases", ["version_id"], unique=False)
    op.create_table(
        "alias_history",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("design", NAME, nullable=False),
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("actor", NAME, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.CheckConstraint("action IN ('set', 'rollback', 'delete')", name=op.f("ck_alias_history_action_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alias_history")),
        sa.UniqueConstraint("revision", name=op.f("uq_alias_history_revision")),
    )
    op.create_index(
        "ix_alias_history_design_alias_revision", "alias_history", ["design", "alias", "revision"], unique=False
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("design", NAME, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("result", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", NAME, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("heartbeat_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.CheckConstraint("state IN ('queued', 'running', 'succeeded', 'failed')", name=op.f("ck_jobs_state_known")),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name=op.f("ck_jobs_progress_fraction")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_jobs_idempotency_key")),
    )
    op.create_index(op.f("ix_jobs_design"), "jobs", ["design"], unique=False)
    op.create_index("ix_jobs_state_created_at", "jobs", ["state", "created_at"], unique=False)
    op.create_index("ix_jobs_state_heartbeat_at", "jobs", ["state", "heartbeat_at"], unique=False)


def downgrade() -> None:
    for table in ("jobs", "alias_history", "aliases", "model_versions", "designs", "store_state"):
        op.drop_table(table)  # indexes and constraints go with their table
