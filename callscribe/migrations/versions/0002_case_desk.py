"""The embedded case desk: review lifecycle, audit trail, people and service tokens.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("machine_fields", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("metadata", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("category", sa.String(64), nullable=True))
        batch.add_column(sa.Column("district", sa.String(64), nullable=True))
        batch.add_column(sa.Column("appeal_type", sa.String(64), nullable=True))
        batch.add_column(sa.Column("urgency", sa.String(64), nullable=True))
        batch.add_column(sa.Column("reviewer", sa.String(64), nullable=True))
        batch.add_column(sa.Column("revision", sa.Integer(), server_default="1", nullable=False))
        batch.create_index("ix_cases_category", ["category"])
        batch.create_index("ix_cases_district", ["district"])
    op.execute("UPDATE cases SET machine_fields = fields WHERE machine_fields IS NULL")
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "case_id",
            sa.String(36),
            sa.ForeignKey("cases.case_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("field", sa.String(64), nullable=True),
        sa.Column("machine_value", sa.JSON(), nullable=True),
        sa.Column("old_value", sa.JSON(), nullable=True),
        sa.Column("new_value", sa.JSON(), nullable=True),
        sa.Column("from_status", sa.String(32), nullable=True),
        sa.Column("to_status", sa.String(32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
    )
    op.create_index("ix_case_events_case_id", "case_events", ["case_id"])
    op.create_table(
        "users",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "sessions",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column(
            "username",
            sa.String(64),
            sa.ForeignKey("users.username", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sessions_username", "sessions", ["username"])


def downgrade() -> None:
    op.drop_table("sessions")
    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_table("case_events")
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_district")
        batch.drop_index("ix_cases_category")
        for column in ("revision", "reviewer", "urgency", "appeal_type", "district", "category",
                       "metadata", "machine_fields"):  # fmt: skip
            batch.drop_column(column)
