"""What the review and the audit say about the machine: accepted fields, corrected transcripts.

``callscribe eval desk`` and ``callscribe eval qa`` print these; the character error rate of
the corrected transcripts is computed there (the scorer belongs to the transcription stage,
which the desk does not import).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from callscribe.db import as_utc
from callscribe.desk.models import CaseEventRow, CaseRow, CaseStatus, FieldFlagRow
from callscribe.desk.models import TranscriptCorrectionRow as Fix
from callscribe.desk.presenters import EDITABLE_FIELDS

__all__ = [
    "FREE_TEXT_FIELDS",
    "SCORED_FIELDS",
    "CorrectedCall",
    "FieldAcceptance",
    "field_acceptance",
    "qa_corrections",
]

FREE_TEXT_FIELDS = ("title", "summary")
"""Written, not chosen: an operator rewording them says little about the machine being wrong."""

SCORED_FIELDS = tuple(f for f in EDITABLE_FIELDS if f not in FREE_TEXT_FIELDS)


@dataclass(frozen=True)
class FieldAcceptance:
    """How often operators confirmed the machine's value of each field unchanged.

    Attributes:
        cases: confirmed cases counted.
        per_field: (accepted unchanged, confirmed cases) for each of :data:`SCORED_FIELDS`.
        free_text: the same for :data:`FREE_TEXT_FIELDS`, kept apart from the scored fields.
    """

    cases: int
    per_field: dict[str, tuple[int, int]]
    free_text: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class CorrectedCall:
    """A call's machine transcript and the same with QA's latest corrections in place.

    Both are the segments' texts joined without separators, as the transcript's ``text`` is.
    ``segments_corrected`` counts the segments whose latest correction differs from the
    machine's text.
    """

    call_id: str
    machine_text: str
    corrected_text: str
    segments_corrected: int


def field_acceptance(engine: Engine, *, since: datetime | None = None) -> FieldAcceptance:
    """Field by field, how many confirmed cases kept the machine's value and QA did not flag it.

    A case counts when its status is confirmed; with ``since``, when its latest move to
    confirmed in the audit trail is at or after ``since``.
    """
    query = select(CaseRow.case_id, CaseRow.fields, CaseRow.machine_fields).where(
        CaseRow.status == CaseStatus.CONFIRMED
    )
    if since is not None:
        confirmed = (
            select(
                CaseEventRow.case_id.label("case_id"),
                func.max(CaseEventRow.at).label("confirmed_at"),
            )
            .where(CaseEventRow.to_status == CaseStatus.CONFIRMED)
            .group_by(CaseEventRow.case_id)
            .subquery()
        )
        query = query.join(confirmed, confirmed.c.case_id == CaseRow.case_id).where(
            confirmed.c.confirmed_at >= as_utc(since)
        )
    with Session(engine) as session:
        cases = session.execute(query).all()
        flagged = set(
            session.execute(
                select(FieldFlagRow.case_id, FieldFlagRow.field).where(
                    FieldFlagRow.case_id.in_([c.case_id for c in cases])
                )
            ).tuples()
        )

    def tally(names: tuple[str, ...]) -> dict[str, tuple[int, int]]:
        counts: dict[str, tuple[int, int]] = {}
        for name in names:
            kept = sum(
                (case_id, name) not in flagged
                and (fields or {}).get(name) == (machine or {}).get(name)
                for case_id, fields, machine in cases
            )
            counts[name] = (kept, len(cases))
        return counts

    return FieldAcceptance(
        cases=len(cases), per_field=tally(SCORED_FIELDS), free_text=tally(FREE_TEXT_FIELDS)
    )


def qa_corrections(engine: Engine, *, since: datetime | None = None) -> list[CorrectedCall]:
    """Every call QA corrected (at or after ``since`` when given), by call id.

    The corrected text uses each segment's latest correction, however old: a call is chosen
    by ``since``, its reference is the best text QA has for it.
    """
    chosen = select(Fix.case_id).distinct()
    if since is not None:
        chosen = chosen.where(Fix.at >= as_utc(since))
    latest = (
        select(func.max(Fix.id)).where(Fix.case_id.in_(chosen)).group_by(Fix.case_id, Fix.segment)
    )
    with Session(engine) as session:
        fixes: dict[str, dict[int, str]] = {}
        for case_id, segment, text in session.execute(
            select(Fix.case_id, Fix.segment, Fix.corrected_text).where(Fix.id.in_(latest))
        ):
            fixes.setdefault(case_id, {})[segment] = text
        rows = session.execute(
            select(CaseRow.case_id, CaseRow.call_id, CaseRow.transcript)
            .where(CaseRow.case_id.in_(list(fixes)))
            .order_by(CaseRow.call_id)
        ).all()
    return [
        _corrected(call_id, transcript or {}, fixes[case_id])
        for case_id, call_id, transcript in rows
    ]


def _corrected(call_id: str, transcript: dict[str, Any], fixes: dict[int, str]) -> CorrectedCall:
    machine = [str(s.get("text") or "") for s in transcript.get("segments") or []]
    corrected = [fixes.get(i, text) for i, text in enumerate(machine)]
    return CorrectedCall(
        call_id=call_id,
        machine_text="".join(machine),
        corrected_text="".join(corrected),
        segments_corrected=sum(a != b for a, b in zip(machine, corrected, strict=True)),
    )
