"""The embedded case desk: cases in SQLite (default) or PostgreSQL, their review and audit trail.

The worker writes machine-filled cases (:meth:`EmbeddedCaseDesk.put_case`, the same operation
as ``PUT /api/cases/{call_id}``); operators review them (:meth:`~EmbeddedCaseDesk.edit_fields`,
:meth:`~EmbeddedCaseDesk.set_status`). Every change leaves a :class:`CaseEventRow`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from callscribe.db import as_utc
from callscribe.desk.models import (
    ACTIVE_STATUSES,
    CaseEventRow,
    CaseRow,
    CaseStatus,
    allowed_moves,
)
from callscribe.desk.presenters import EDITABLE_FIELDS, case_summary, case_view
from callscribe.errors import CaseNotFound, CaseStateConflict, WriteBackConflict
from callscribe.ledger import CallRow
from callscribe.writeback.contract import CaseSubmission, StoredCase

__all__ = ["EDITABLE_FIELDS", "CaseFilter", "CaseRow", "EmbeddedCaseDesk"]

log = logging.getLogger(__name__)

_PUT_ATTEMPTS = 3
"""Tries of one write when concurrent first writes of a call race on the unique call id."""

_INDEXED_MAX_CHARS = 64


@dataclass(frozen=True)
class CaseFilter:
    """Which cases a list shows, newest first. ``None`` means any."""

    status: tuple[str, ...] = ()
    category: str | None = None
    district: str | None = None
    appeal_type: str | None = None
    urgency: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class EmbeddedCaseDesk:
    """A :class:`~callscribe.writeback.contract.CaseSystem` writing straight to the local store.

    Args:
        engine: the store (shared with the call ledger).
        actor: who in-process writes are attributed to in the audit trail.
    """

    def __init__(self, engine: Engine, *, actor: str = "worker") -> None:
        self.engine = engine
        self.actor = actor

    # The write-back contract

    def upsert_case(self, submission: CaseSubmission) -> StoredCase:
        stored, _created = self.put_case(
            submission.call_id,
            fields=submission.fields.to_dict(),
            transcript=submission.transcript.to_dict(),
            metadata=submission.metadata,
            actor=self.actor,
        )
        return stored

    def put_case(
        self,
        call_id: str,
        *,
        fields: dict[str, Any],
        transcript: dict[str, Any],
        metadata: dict[str, Any] | None,
        actor: str,
    ) -> tuple[StoredCase, bool]:
        """Create or update the machine's case for a call. Returns (case, created).

        A repeated write of what is stored answers the stored case whatever its status, so a
        retry after a lost response succeeds.

        Raises:
            WriteBackConflict: the case is past auto-filled and the write would change it.
        """
        for attempt in range(1, _PUT_ATTEMPTS + 1):
            try:
                return self._put_once(call_id, fields, transcript, metadata or {}, actor)
            except IntegrityError:
                if attempt == _PUT_ATTEMPTS:
                    raise
                log.info("call %s: concurrent first write; retrying as an update", call_id)
        raise AssertionError("unreachable")

    def _put_once(
        self,
        call_id: str,
        fields: dict[str, Any],
        transcript: dict[str, Any],
        metadata: dict[str, Any],
        actor: str,
    ) -> tuple[StoredCase, bool]:
        with Session(self.engine) as session, session.begin():
            row = _locked(session, call_id)
            if row is None:
                row = CaseRow(
                    case_id=str(uuid.uuid4()),
                    call_id=call_id,
                    status=CaseStatus.AUTO_FILLED,
                    fields=fields,
                    machine_fields=fields,
                    transcript=transcript,
                    case_metadata=metadata,
                    revision=1,
                )
                _index(row, fields)
                session.add(row)
                session.flush()
                session.add(
                    CaseEventRow(
                        case_id=row.case_id,
                        actor=actor,
                        action="created",
                        to_status=CaseStatus.AUTO_FILLED,
                    )
                )
                log.info("call %s: case %s created", call_id, row.case_id)
                return row.to_stored(), True
            if row.machine_fields == fields and row.transcript == transcript:
                return row.to_stored(), False
            if row.status not in ACTIVE_STATUSES:
                raise WriteBackConflict(
                    f"case for call {call_id} is {row.status}: an operator owns it now, "
                    "so the machine's fields are not written over it"
                )
            changed = {
                name: fields.get(name)
                for name in EDITABLE_FIELDS
                if row.fields.get(name) != fields.get(name)
            }
            _record_field_changes(
                session, row, changed, actor=actor, action="machine-update", machine=fields
            )
            row.fields = fields
            row.machine_fields = fields
            row.transcript = transcript
            row.case_metadata = metadata
            row.revision += 1
            _index(row, fields)
            session.flush()
            log.info("call %s: case %s updated by the machine", call_id, row.case_id)
            return row.to_stored(), False

    def get_case(self, call_id: str) -> StoredCase | None:
        with Session(self.engine) as session:
            row = session.scalars(select(CaseRow).where(CaseRow.call_id == call_id)).first()
            return row.to_stored() if row is not None else None

    def count_cases(self, call_id: str) -> int:
        with Session(self.engine) as session:
            count = session.scalar(
                select(func.count()).select_from(CaseRow).where(CaseRow.call_id == call_id)
            )
            return int(count or 0)

    # Review

    def edit_fields(
        self,
        call_id: str,
        edits: dict[str, Any],
        *,
        actor: str,
        revision: int | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Apply an operator's corrections; a case still auto-filled moves to in-review.

        Raises:
            CaseNotFound: no case for the call.
            CaseStateConflict: the case is decided (reopen it first) or ``revision`` is stale.
        """
        _check_editable(edits)
        with Session(self.engine) as session, session.begin():
            row = _require(session, call_id, revision)
            _take_for_review(session, row, actor)
            if _apply_edits(session, row, edits, actor=actor, note=note):
                row.revision += 1
            session.flush()
            return _detail(session, row)

    def set_status(
        self,
        call_id: str,
        status: str,
        *,
        actor: str,
        revision: int | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Move a case along its lifecycle (see :data:`~callscribe.desk.models.STATUS_TRANSITIONS`).

        Raises:
            CaseNotFound: no case for the call.
            CaseStateConflict: the move is not allowed from the current status, or stale.
        """
        with Session(self.engine) as session, session.begin():
            row = _require(session, call_id, revision)
            if status not in allowed_moves(row.status):
                raise CaseStateConflict(
                    f"case for call {call_id} is {row.status}; it cannot move to {status}"
                )
            _move(session, row, status, actor, note)
            row.revision += 1
            session.flush()
            return _detail(session, row)

    # Reading

    def list_cases(
        self, where: CaseFilter, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of case summaries, newest first, and how many match in all."""
        rows, total = _page(
            self.engine, where, (CaseRow.created_at.desc(), CaseRow.case_id), limit, offset
        )
        return [case_summary(r) for r in rows], total

    def case_detail(self, call_id: str) -> dict[str, Any]:
        """Everything a review page shows for one case, its audit trail included.

        Raises:
            CaseNotFound: no case for the call.
        """
        with Session(self.engine) as session:
            return _detail(session, _require(session, call_id, None))

    def audio_path(self, call_id: str) -> str | None:
        """Where the call's audio is stored, from the ledger (never from a client)."""
        with Session(self.engine) as session:
            return session.scalar(select(CallRow.audio_path).where(CallRow.call_id == call_id))


def _detail(session: Session, row: CaseRow) -> dict[str, Any]:
    events = session.scalars(
        select(CaseEventRow).where(CaseEventRow.case_id == row.case_id).order_by(CaseEventRow.id)
    ).all()
    has_audio = session.scalar(select(CallRow.call_id).where(CallRow.call_id == row.call_id))
    return case_view(row, events, has_audio=has_audio is not None)


def _page(
    engine: Engine,
    where: CaseFilter,
    order: tuple[ColumnElement[Any] | InstrumentedAttribute[Any], ...],
    limit: int,
    offset: int,
) -> tuple[Sequence[CaseRow], int]:
    """One page of the cases ``where`` admits, in ``order``, and how many it admits in all."""
    conditions: list[ColumnElement[bool]] = []
    if where.status:
        conditions.append(CaseRow.status.in_(where.status))
    for column, value in (
        (CaseRow.category, where.category),
        (CaseRow.district, where.district),
        (CaseRow.appeal_type, where.appeal_type),
        (CaseRow.urgency, where.urgency),
    ):
        if value is not None:
            conditions.append(column == value)
    if where.since is not None:
        conditions.append(CaseRow.created_at >= as_utc(where.since))
    if where.until is not None:
        conditions.append(CaseRow.created_at < as_utc(where.until))
    with Session(engine) as session:
        total = session.scalar(select(func.count()).select_from(CaseRow).where(*conditions))
        rows = session.scalars(
            select(CaseRow).where(*conditions).order_by(*order).limit(limit).offset(offset)
        ).all()
        return rows, int(total or 0)


def _locked(session: Session, call_id: str) -> CaseRow | None:
    return session.scalars(
        select(CaseRow).where(CaseRow.call_id == call_id).with_for_update()
    ).first()


def _require(session: Session, call_id: str, revision: int | None) -> CaseRow:
    row = _locked(session, call_id)
    if row is None:
        raise CaseNotFound(f"no case for call {call_id}")
    if revision is not None and revision != row.revision:
        who = session.scalar(
            select(CaseEventRow.actor)
            .where(CaseEventRow.case_id == row.case_id, CaseEventRow.action.not_like("qa-%"))
            .order_by(CaseEventRow.id.desc())
            .limit(1)
        )
        raise CaseStateConflict(
            f"case for call {call_id} was changed by {who or 'someone'} at revision "
            f"{row.revision} while you had revision {revision}; reload it to see their changes"
        )
    return row


def _check_editable(edits: dict[str, Any]) -> None:
    unknown = sorted(set(edits) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValueError(f"not editable: {', '.join(unknown)}")


def _take_for_review(session: Session, row: CaseRow, actor: str) -> None:
    """Refuse a decided case; move an auto-filled one to in-review with ``actor`` reviewing."""
    if row.status in (CaseStatus.CONFIRMED, CaseStatus.REJECTED):
        raise CaseStateConflict(
            f"case for call {row.call_id} is {row.status}; move it back to in-review first"
        )
    if row.status == CaseStatus.AUTO_FILLED:
        _move(session, row, CaseStatus.IN_REVIEW, actor, None)


def _apply_edits(
    session: Session, row: CaseRow, edits: dict[str, Any], *, actor: str, note: str | None
) -> bool:
    """Write an operator's corrections with one ``field-edit`` event each; whether any changed."""
    changed = {k: v for k, v in edits.items() if row.fields.get(k) != v}
    _record_field_changes(
        session,
        row,
        changed,
        actor=actor,
        action="field-edit",
        machine=row.machine_fields or {},
        note=note,
    )
    if changed:
        row.fields = {**row.fields, **changed}
        _index(row, row.fields)
    return bool(changed)


def _record_field_changes(
    session: Session,
    row: CaseRow,
    changed: dict[str, Any],
    *,
    actor: str,
    action: str,
    machine: dict[str, Any],
    note: str | None = None,
) -> None:
    """One audit event per changed field: the machine's value, the old one and the new one.

    Call before ``row.fields`` is overwritten, so the old values are still there to record.
    """
    for name, value in changed.items():
        session.add(
            CaseEventRow(
                case_id=row.case_id,
                actor=actor,
                action=action,
                field=name,
                machine_value=machine.get(name),
                old_value=row.fields.get(name),
                new_value=value,
                note=note,
            )
        )


def _move(session: Session, row: CaseRow, status: str, actor: str, note: str | None) -> None:
    session.add(
        CaseEventRow(
            case_id=row.case_id,
            actor=actor,
            action="status",
            from_status=row.status,
            to_status=status,
            note=note,
        )
    )
    row.status = status
    if status == CaseStatus.IN_REVIEW:
        row.reviewer = actor


def _index(row: CaseRow, fields: dict[str, Any]) -> None:
    """Copy the fields the lists filter on into their own indexed columns."""
    row.category = _indexed(fields.get("category"))
    row.district = _indexed(fields.get("district"))
    row.appeal_type = _indexed(fields.get("appeal_type"))
    row.urgency = _indexed(fields.get("urgency"))


def _indexed(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value[:_INDEXED_MAX_CHARS]
