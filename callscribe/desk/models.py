"""Tables of the embedded case desk: cases, their audit trail, users, tokens and sessions, and
QA's audit data (sampled batches, transcript corrections, field flags, comments).

The schema is changed only by migrations (``callscribe/migrations/versions``); these classes
must stay in step with them (a test compares the two).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callscribe.db import Base, iso_utc, utcnow
from callscribe.writeback.contract import StoredCase

__all__ = [
    "ACTIVE_STATUSES",
    "STATUS_TRANSITIONS",
    "AuditBatchRow",
    "AuditItemRow",
    "CaseCommentRow",
    "CaseEventRow",
    "CaseRow",
    "CaseStatus",
    "FieldFlagRow",
    "SessionRow",
    "TokenRow",
    "TranscriptCorrectionRow",
    "UserRow",
    "allowed_moves",
]


class CaseStatus(StrEnum):
    """A case's lifecycle: auto-filled -> in-review -> confirmed | rejected."""

    AUTO_FILLED = "auto-filled"
    IN_REVIEW = "in-review"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


STATUS_TRANSITIONS: dict[CaseStatus, tuple[CaseStatus, ...]] = {
    CaseStatus.AUTO_FILLED: (CaseStatus.IN_REVIEW,),
    CaseStatus.IN_REVIEW: (CaseStatus.CONFIRMED, CaseStatus.REJECTED),
    CaseStatus.CONFIRMED: (CaseStatus.IN_REVIEW,),
    CaseStatus.REJECTED: (CaseStatus.IN_REVIEW,),
}
"""Allowed moves. A decided case is reopened by moving it back to in-review."""


def allowed_moves(status: str) -> tuple[CaseStatus, ...]:
    """Where a case in ``status`` may move next (nothing for an unknown status)."""
    try:
        return STATUS_TRANSITIONS[CaseStatus(status)]
    except ValueError:
        return ()


ACTIVE_STATUSES = (CaseStatus.AUTO_FILLED,)
"""Statuses in which the worker may still overwrite the machine's fields."""


class CaseRow(Base):
    __tablename__ = "cases"

    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128), unique=True, index=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    transcript: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    machine_fields: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    case_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, default=None)
    category: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    district: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    appeal_type: Mapped[str | None] = mapped_column(String(64), default=None)
    urgency: Mapped[str | None] = mapped_column(String(64), default=None)
    reviewer: Mapped[str | None] = mapped_column(String(64), default=None)
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    def to_stored(self) -> StoredCase:
        return StoredCase(
            case_id=self.case_id,
            call_id=self.call_id,
            status=self.status,
            fields=dict(self.fields),
            transcript=dict(self.transcript),
            created_at=iso_utc(self.created_at),
            updated_at=iso_utc(self.updated_at),
        )


class CaseEventRow(Base):
    """One entry of a case's audit trail: who did what, when, to which field."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("cases.case_id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    field: Mapped[str | None] = mapped_column(String(64), default=None)
    machine_value: Mapped[Any] = mapped_column(JSON, nullable=True, default=None)
    old_value: Mapped[Any] = mapped_column(JSON, nullable=True, default=None)
    new_value: Mapped[Any] = mapped_column(JSON, nullable=True, default=None)
    from_status: Mapped[str | None] = mapped_column(String(32), default=None)
    to_status: Mapped[str | None] = mapped_column(String(32), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)


class UserRow(Base):
    """A person who signs in: an operator or a QA auditor."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TokenRow(Base):
    """A service token (the worker's write-back, a call recorder). Only its SHA-256 is kept."""

    __tablename__ = "api_tokens"

    token_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class SessionRow(Base):
    """A signed-in person's session. Only the SHA-256 of the session token is kept."""

    __tablename__ = "sessions"

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(
        String(64), ForeignKey("users.username", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _case_fk() -> Mapped[str]:
    return mapped_column(String(36), ForeignKey("cases.case_id", ondelete="CASCADE"), index=True)


class AuditBatchRow(Base):
    """A QA sample: which rule drew it, with which seed, by whom."""

    __tablename__ = "audit_batches"

    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    seed: Mapped[int] = mapped_column(BigInteger)
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    size: Mapped[int] = mapped_column(Integer)


class AuditItemRow(Base):
    """One case of a QA sample, at its place in the draw."""

    __tablename__ = "audit_items"

    batch_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("audit_batches.batch_id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("cases.case_id", ondelete="CASCADE")
    )


class TranscriptCorrectionRow(Base):
    """QA's text for one transcript segment; a later row for the same segment supersedes it."""

    __tablename__ = "transcript_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = _case_fk()
    segment: Mapped[int] = mapped_column(Integer)
    machine_text: Mapped[str] = mapped_column(Text)
    corrected_text: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FieldFlagRow(Base):
    """QA marks a work-order field as wrong (whether or not the operator changed it)."""

    __tablename__ = "field_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = _case_fk()
    field: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    comment: Mapped[str | None] = mapped_column(Text, default=None)


class CaseCommentRow(Base):
    """A QA auditor's free-text remark on a case."""

    __tablename__ = "case_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = _case_fk()
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    text: Mapped[str] = mapped_column(Text)
