"""The call ledger: each call's status and the result of every stage, keyed by call id.

Every stage stores its result here before the next one starts, so a retry resumes where the
call stopped (a failed write-back never costs a second transcription).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from callscribe.db import Base, utcnow
from callscribe.errors import as_file_reason
from callscribe.schema import CaseFields, Transcript

__all__ = ["CallLedger", "CallRecord", "CallStatus", "StaleCall"]


class CallStatus:
    """The status words shown by `callscribe status` and the API."""

    QUEUED = "queued"
    TRANSCRIBING = "transcribing"
    EXTRACTING = "extracting"
    WRITING_BACK = "writing-back"
    DONE = "done"
    FAILED = "failed"

    STAGES = (TRANSCRIBING, EXTRACTING, WRITING_BACK)
    """The statuses in which a worker is (or should be) busy with the call."""
    UNFINISHED = (QUEUED, *STAGES)
    """Every status but ``done`` and ``failed``: the call is owed work."""


class CallRow(Base):
    __tablename__ = "calls"

    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    status: Mapped[str] = mapped_column(String(32), default=CallStatus.QUEUED, index=True)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    audio_path: Mapped[str] = mapped_column(Text)
    source_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    call_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    transcript: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    fields: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    case_ref: Mapped[str | None] = mapped_column(String(128), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


@dataclass
class CallRecord:
    """A call as the ledger knows it."""

    call_id: str
    status: str
    error: str | None
    audio_path: str
    source_name: str
    sha256: str
    metadata: dict[str, Any]
    transcript: Transcript | None
    fields: CaseFields | None
    case_ref: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime

    @property
    def status_line(self) -> str:
        """`done`, `transcribing`, ... or `failed: reason`, the reason naming the file as it was
        given (for a person at a terminal; logs name the call by its id)."""
        if self.status == CallStatus.FAILED:
            reason = self.error or "unknown error"
            return f"failed: {as_file_reason(reason, self.call_id, self.source_name)}"
        return self.status

    @classmethod
    def from_row(cls, row: CallRow) -> CallRecord:
        return cls(
            call_id=row.call_id,
            status=row.status,
            error=row.error,
            audio_path=row.audio_path,
            source_name=row.source_name,
            sha256=row.sha256,
            metadata=dict(row.call_metadata or {}),
            transcript=Transcript.from_dict(row.transcript) if row.transcript else None,
            fields=CaseFields.from_dict(row.fields) if row.fields else None,
            case_ref=row.case_ref,
            attempts=row.attempts,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True)
class StaleCall:
    """What the reconciler needs of a call that may have lost its job."""

    call_id: str
    status: str
    priority: object
    updated_at: datetime


class CallLedger:
    """Reads and writes call state. Safe to share between threads (one session per call)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def register(
        self,
        call_id: str,
        *,
        audio_path: str,
        source_name: str,
        sha256: str,
        metadata: dict[str, Any] | None = None,
    ) -> tuple[CallRecord, bool]:
        """Record a new call, or return the existing one. Returns (record, created)."""
        with Session(self.engine) as session, session.begin():
            row = session.get(CallRow, call_id)
            if row is not None:
                return CallRecord.from_row(row), False
            row = CallRow(
                call_id=call_id,
                status=CallStatus.QUEUED,
                audio_path=audio_path,
                source_name=source_name,
                sha256=sha256,
                call_metadata=metadata or {},
            )
            session.add(row)
            session.flush()
            return CallRecord.from_row(row), True

    def get(self, call_id: str) -> CallRecord | None:
        with Session(self.engine) as session:
            row = session.get(CallRow, call_id)
            return CallRecord.from_row(row) if row is not None else None

    def find_by_sha256(self, sha256: str) -> CallRecord | None:
        with Session(self.engine) as session:
            row = session.scalars(select(CallRow).where(CallRow.sha256 == sha256).limit(1)).first()
            return CallRecord.from_row(row) if row is not None else None

    def set_status(self, call_id: str, status: str, *, error: str | None = None) -> None:
        self._update(call_id, status=status, error=error)

    def begin_attempt(self, call_id: str) -> None:
        with Session(self.engine) as session, session.begin():
            row = self._row(session, call_id)
            row.attempts += 1
            row.error = None

    def save_transcript(self, call_id: str, transcript: Transcript) -> None:
        self._update(call_id, transcript=transcript.to_dict(words=True))

    def save_fields(self, call_id: str, fields: CaseFields) -> None:
        self._update(call_id, fields=fields.to_dict())

    def mark_done(self, call_id: str, case_ref: str) -> None:
        self._update(call_id, status=CallStatus.DONE, case_ref=case_ref, error=None)

    def unchanged_since(
        self, statuses: Iterable[str], before: datetime, *, limit: int, offset: int = 0
    ) -> list[StaleCall]:
        """Calls in one of ``statuses``, with no fields stored yet, not updated since ``before``;
        least recently updated first.

        What the reconciler looks at: such a call is owed work that a job must do, and one left
        alone this long may have lost its job. (A call with its fields stored is owed only its
        write-back: the outbox's.) Only light columns are read, never transcripts.
        """
        with Session(self.engine) as session:
            query = (
                select(CallRow.call_id, CallRow.status, CallRow.call_metadata, CallRow.updated_at)
                .where(
                    CallRow.status.in_(list(statuses)),
                    CallRow.updated_at < before,
                    CallRow.fields.is_(None),
                )
                .order_by(CallRow.updated_at, CallRow.call_id)
                .offset(offset)
                .limit(limit)
            )
            return [
                StaleCall(
                    call_id=row.call_id,
                    status=row.status,
                    priority=(row.call_metadata or {}).get("priority"),
                    updated_at=row.updated_at,
                )
                for row in session.execute(query)
            ]

    def list(
        self, *, status: str | None = None, limit: int = 100, by_update: bool = False
    ) -> list[CallRecord]:
        """The newest calls first: newest registered, or with ``by_update`` newest changed."""
        newest = CallRow.updated_at if by_update else CallRow.created_at
        with Session(self.engine) as session:
            query = select(CallRow).order_by(newest.desc(), CallRow.call_id).limit(limit)
            if status is not None:
                query = query.where(CallRow.status == status)
            return [CallRecord.from_row(r) for r in session.scalars(query)]

    def requeue(
        self,
        call_id: str,
        *,
        from_statuses: Iterable[str],
        updated_before: datetime | None = None,
        note: str | None = None,
    ) -> bool:
        """Set a call back to ``queued`` if it is still in one of ``from_statuses`` (and, with
        ``updated_before``, still untouched since then). Stored stage results are kept.

        One conditional UPDATE, so of two processes requeueing the same call only one wins.
        Returns whether this one did.
        """
        query = (
            update(CallRow)
            .where(CallRow.call_id == call_id, CallRow.status.in_(list(from_statuses)))
            .values(status=CallStatus.QUEUED, error=note, updated_at=utcnow())
        )
        if updated_before is not None:
            query = query.where(CallRow.updated_at < updated_before)
        with Session(self.engine) as session, session.begin():
            result = session.execute(query)
            return bool(getattr(result, "rowcount", 0) == 1)

    def _update(self, call_id: str, **values: Any) -> None:
        with Session(self.engine) as session, session.begin():
            row = self._row(session, call_id)
            for key, value in values.items():
                setattr(row, key, value)

    @staticmethod
    def _row(session: Session, call_id: str) -> CallRow:
        row = session.get(CallRow, call_id)
        if row is None:
            raise KeyError(f"unknown call id {call_id}")
        return row
