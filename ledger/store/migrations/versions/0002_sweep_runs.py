"""Sweep run keys: ``sweep_runs`` and ``sweep_chunks``.

Adds the scheduler's run keys and the chunks a run is cut into (issue 4), and
touches no existing table:

* ``sweep_runs``: one row per sweep kind and business date (the primary key is what
  makes a daily sweep run once, whatever the number of scheduler replicas), with its
  ``as_of``, its status (``claimed`` → ``running`` → ``completed``), when it was
  claimed, sent, started, last advanced and completed, its chunk counters and, once
  completed, the totals of its ``sweep.completed``; indexed by business date for the
  scheduler's "newest run" and ``residuo status``'s "last runs";
* ``sweep_chunks``: a run's key ranges (``after_key`` exclusive, ``upto_key``
  inclusive, NULL unbounded) of one pass over one table, each ``pending`` until the
  transaction that settles it flips it to ``done`` and keeps its tallies.

Instants are ``timestamptz`` on PostgreSQL; SQLite stores UTC. New tables only, so
no ``batch_alter_table`` copy of an existing SQLite table is needed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sweep_runs",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("send_count", sa.Integer(), server_default="1", nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("progress_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("chunks_total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("chunks_done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("cents", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "status IN ('claimed', 'running', 'completed')", name=op.f("ck_sweep_runs_status")
        ),
        sa.CheckConstraint(
            "chunks_done >= 0 AND chunks_done <= chunks_total",
            name=op.f("ck_sweep_runs_chunks_range"),
        ),
        sa.CheckConstraint("send_count >= 1", name=op.f("ck_sweep_runs_send_count_positive")),
        sa.PrimaryKeyConstraint("kind", "business_date", name=op.f("pk_sweep_runs")),
    )
    with op.batch_alter_table("sweep_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sweep_runs_business_date"), ["business_date"], unique=False
        )

    op.create_table(
        "sweep_chunks",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("chunk_no", sa.Integer(), nullable=False),
        sa.Column("pass_name", sa.String(length=32), nullable=False),
        sa.Column("after_key", sa.String(length=64), nullable=True),
        sa.Column("upto_key", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("cents", sa.JSON(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'done')", name=op.f("ck_sweep_chunks_status")),
        sa.CheckConstraint("chunk_no >= 0", name=op.f("ck_sweep_chunks_chunk_no_non_negative")),
        sa.ForeignKeyConstraint(
            ["kind", "business_date"],
            ["sweep_runs.kind", "sweep_runs.business_date"],
            name=op.f("fk_sweep_chunks_kind_sweep_runs"),
        ),
        sa.PrimaryKeyConstraint("kind", "business_date", "chunk_no", name=op.f("pk_sweep_chunks")),
    )


def downgrade() -> None:
    op.drop_table("sweep_chunks")
    with op.batch_alter_table("sweep_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sweep_runs_business_date"))

    op.drop_table("sweep_runs")
