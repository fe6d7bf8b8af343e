"""QA's audit desk: samples of calls, transcript corrections, field flags and comments.

Samples (the rules that pick calls and the batches they draw) live in
:mod:`callscribe.desk.sampling`; :class:`AuditDesk` offers them to QA beside its own records.
Corrections, flags and comments are kept in tables of their own and also leave an entry
(``qa-correction``, ``qa-flag``, ``qa-comment``) in the case's audit trail, so the review page's
history shows them. None of them changes the case's revision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from callscribe.db import as_utc, iso_utc
from callscribe.desk import sampling
from callscribe.desk.models import (
    CaseCommentRow,
    CaseEventRow,
    CaseRow,
    FieldFlagRow,
    TranscriptCorrectionRow,
)
from callscribe.desk.presenters import EDITABLE_FIELDS
from callscribe.desk.sampling import AuditBatch, SampleRule
from callscribe.errors import CaseNotFound

__all__ = ["MAX_NOTE_CHARS", "AuditDesk", "Correction"]

log = logging.getLogger(__name__)

MAX_NOTE_CHARS = 2_000


@dataclass(frozen=True)
class Correction:
    """QA's text for one transcript segment, beside what the machine wrote."""

    call_id: str
    segment: int
    machine_text: str
    corrected_text: str
    actor: str
    at: datetime


class AuditDesk:
    """QA's side of the desk.

    Args:
        engine: the store.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def draw_sample(self, rule: SampleRule, *, actor: str) -> AuditBatch:
        """Draw and keep a sample; fewer candidates than ``rule.n`` are all taken.

        Raises:
            ValueError: no case matches the rule.
        """
        return sampling.draw_sample(self.engine, rule, actor=actor)

    def batches(self, *, limit: int = 50) -> list[AuditBatch]:
        """The latest samples, newest first."""
        return sampling.batches(self.engine, limit=limit)

    def batch(self, batch_id: str) -> AuditBatch:
        """One sample.

        Raises:
            CaseNotFound: no sample has that id.
        """
        return sampling.batch(self.engine, batch_id)

    def correct_segment(self, call_id: str, segment: int, text: str, *, actor: str) -> Correction:
        """Keep QA's text for one segment; a later correction of it supersedes this one.

        Raises:
            CaseNotFound: no case for the call.
            ValueError: no such segment, or the text is too long or holds a NUL character.
        """
        _check_note("text", text)
        with Session(self.engine) as session, session.begin():
            row = _case(session, call_id)
            segments = row.transcript.get("segments") or []
            if isinstance(segment, bool) or not 0 <= segment < len(segments):
                raise ValueError(
                    f"segment {segment}: the transcript of call {call_id} has "
                    + (f"segments 0 to {len(segments) - 1}" if segments else "no segments")
                )
            machine_text = str(segments[segment].get("text") or "")
            previous = _latest_corrections(session, row.case_id).get(segment)
            correction = TranscriptCorrectionRow(
                case_id=row.case_id,
                segment=segment,
                machine_text=machine_text,
                corrected_text=text,
                actor=actor,
            )
            session.add(correction)
            session.add(
                CaseEventRow(
                    case_id=row.case_id,
                    actor=actor,
                    action="qa-correction",
                    machine_value=machine_text,
                    old_value=machine_text if previous is None else previous.corrected_text,
                    new_value=text,
                    note=f"segment {segment}",
                )
            )
            session.flush()
            log.info("call %s: segment %s corrected by QA", call_id, segment)
            return _correction(call_id, correction)

    def corrections(self, call_id: str) -> dict[int, Correction]:
        """QA's latest text for each corrected segment.

        Raises:
            CaseNotFound: no case for the call.
        """
        with Session(self.engine) as session:
            row = _case(session, call_id)
            return {
                segment: _correction(call_id, c)
                for segment, c in sorted(_latest_corrections(session, row.case_id).items())
            }

    def flag_field(
        self, call_id: str, field: str, *, actor: str, comment: str | None = None
    ) -> None:
        """Mark a work-order field as wrong; it then no longer counts as accepted unchanged.

        Raises:
            CaseNotFound: no case for the call.
            ValueError: not an editable field, or the comment is too long or holds a NUL.
        """
        if field not in EDITABLE_FIELDS:
            raise ValueError(f"field: {field!r} is not one of {', '.join(EDITABLE_FIELDS)}")
        if comment is not None:
            _check_note("comment", comment)
        with Session(self.engine) as session, session.begin():
            row = _case(session, call_id)
            session.add(
                FieldFlagRow(case_id=row.case_id, field=field, actor=actor, comment=comment)
            )
            session.add(
                CaseEventRow(
                    case_id=row.case_id, actor=actor, action="qa-flag", field=field, note=comment
                )
            )
            log.info("call %s: field %s flagged by QA", call_id, field)

    def add_comment(self, call_id: str, text: str, *, actor: str) -> None:
        """Add a QA remark to a case.

        Raises:
            CaseNotFound: no case for the call.
            ValueError: the text is blank, too long or holds a NUL character.
        """
        if not text.strip():
            raise ValueError("text: write the comment")
        _check_note("text", text)
        with Session(self.engine) as session, session.begin():
            row = _case(session, call_id)
            session.add(CaseCommentRow(case_id=row.case_id, actor=actor, text=text))
            session.add(
                CaseEventRow(case_id=row.case_id, actor=actor, action="qa-comment", note=text)
            )
            log.info("call %s: QA comment added", call_id)

    def notes(self, call_id: str) -> list[dict[str, Any]]:
        """QA's flags and comments on a case, oldest first.

        Each is ``{"at", "actor", "kind": "flag" | "comment", "field", "text"}``; a flag's
        ``text`` is its comment (may be None), a comment's ``field`` is None.

        Raises:
            CaseNotFound: no case for the call.
        """
        with Session(self.engine) as session:
            case_id = _case(session, call_id).case_id
            flags = session.scalars(select(FieldFlagRow).where(FieldFlagRow.case_id == case_id))
            comments = session.scalars(
                select(CaseCommentRow).where(CaseCommentRow.case_id == case_id)
            )
            found = [
                (as_utc(f.at), 0, f.id, f.actor, "flag", f.field, f.comment) for f in flags
            ] + [(as_utc(c.at), 1, c.id, c.actor, "comment", None, c.text) for c in comments]
            return [
                {"at": iso_utc(at), "actor": actor, "kind": kind, "field": field, "text": text}
                for at, _order, _id, actor, kind, field, text in sorted(found)
            ]


def _check_note(name: str, text: str) -> None:
    if len(text) > MAX_NOTE_CHARS:
        raise ValueError(f"{name}: at most {MAX_NOTE_CHARS} characters, not {len(text)}")
    if "\x00" in text:
        raise ValueError(f"{name}: NUL characters are not allowed")


def _case(session: Session, call_id: str) -> CaseRow:
    row = session.scalars(select(CaseRow).where(CaseRow.call_id == call_id)).first()
    if row is None:
        raise CaseNotFound(f"no case for call {call_id}")
    return row


def _latest_corrections(session: Session, case_id: str) -> dict[int, TranscriptCorrectionRow]:
    latest = (
        select(func.max(TranscriptCorrectionRow.id))
        .where(TranscriptCorrectionRow.case_id == case_id)
        .group_by(TranscriptCorrectionRow.segment)
    )
    rows = session.scalars(
        select(TranscriptCorrectionRow).where(TranscriptCorrectionRow.id.in_(latest))
    ).all()
    return {r.segment: r for r in rows}


def _correction(call_id: str, row: TranscriptCorrectionRow) -> Correction:
    return Correction(
        call_id=call_id,
        segment=row.segment,
        machine_text=row.machine_text,
        corrected_text=row.corrected_text,
        actor=row.actor,
        at=as_utc(row.at),
    )
