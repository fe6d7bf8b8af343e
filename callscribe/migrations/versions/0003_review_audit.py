"""QA's audit data: sampled batches, transcript corrections, field flags, comments.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _case_id() -> sa.Column[str]:
    return sa.Column(
        "case_id",
        sa.String(36),
        sa.ForeignKey("cases.case_id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "audit_batches",
        sa.Column("batch_id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("rule", sa.JSON(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
    )
    op.create_table(
        "audit_items",
        sa.Column(
            "batch_id",
            sa.String(36),
            sa.ForeignKey("audit_batches.batch_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), primary_key=True),
        _case_id(),
    )
    op.create_table(
        "transcript_corrections",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _case_id(),
        sa.Column("segment", sa.Integer(), nullable=False),
        sa.Column("machine_text", sa.Text(), nullable=False),
        sa.Column("corrected_text", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_transcript_corrections_case_id", "transcript_corrections", ["case_id"])
    op.create_table(
        "field_flags",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _case_id(),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
    )
    op.create_index("ix_field_flags_case_id", "field_flags", ["case_id"])
    op.create_table(
        "case_comments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _case_id(),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_case_comments_case_id", "case_comments", ["case_id"])


def downgrade() -> None:
    op.drop_table("case_comments")
    op.drop_table("field_flags")
    op.drop_table("transcript_corrections")
    op.drop_table("audit_items")
    op.drop_table("audit_batches")
