"""The embedded case desk's store: cases in SQLite (default) or PostgreSQL via SQLAlchemy."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from callscribe.casesystem.base import CaseSubmission, StoredCase
from callscribe.db import Base, utcnow

__all__ = ["CaseRow", "EmbeddedCaseDesk"]


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

    def to_stored(self) -> StoredCase:
        return StoredCase(
            case_id=self.case_id,
            call_id=self.call_id,
            status=self.status,
            fields=dict(self.fields),
            transcript=dict(self.transcript),
            created_at=self.created_at.isoformat(),
            updated_at=self.updated_at.isoformat(),
        )


class EmbeddedCaseDesk:
    """A :class:`~callscribe.casesystem.base.CaseSystem` writing straight to the local store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def upsert_case(self, submission: CaseSubmission) -> StoredCase:
        with Session(self.engine) as session, session.begin():
            row = session.scalars(
                select(CaseRow).where(CaseRow.call_id == submission.call_id)
            ).first()
            if row is None:
                row = CaseRow(case_id=str(uuid.uuid4()), call_id=submission.call_id)
                session.add(row)
            row.status = submission.status
            row.fields = submission.fields.to_dict()
            row.transcript = submission.transcript.to_dict()
            session.flush()
            return row.to_stored()

    def get_case(self, call_id: str) -> StoredCase | None:
        with Session(self.engine) as session:
            row = session.scalars(select(CaseRow).where(CaseRow.call_id == call_id)).first()
            return row.to_stored() if row is not None else None

    def count_cases(self, call_id: str) -> int:
        with Session(self.engine) as session:
            return len(session.scalars(select(CaseRow).where(CaseRow.call_id == call_id)).all())
