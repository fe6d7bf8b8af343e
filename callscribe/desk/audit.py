"""QA's audit: reproducible samples of calls, transcript corrections, field flags and comments.

A sample is drawn by a :class:`SampleRule` and a seed: the candidates are ordered by case id
and ``random.Random(seed).sample`` picks from them, so the same rule and seed over the same
cases always give the same calls. Corrections, flags and comments are kept in tables of their
own and also leave an entry (``qa-correction``, ``qa-flag``, ``qa-comment``) in the case's audit
trail, so the review page's history shows them. None of them changes the case's revision.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from callscribe import defaults
from callscribe.db import iso_utc
from callscribe.desk.models import (
    AuditBatchRow,
    AuditItemRow,
    CaseCommentRow,
    CaseEventRow,
    CaseRow,
    FieldFlagRow,
    TranscriptCorrectionRow,
)
from callscribe.desk.presenters import EDITABLE_FIELDS
from callscribe.desk.store import as_utc
from callscribe.errors import CaseNotFound
from callscribe.schema import CATEGORIES

__all__ = [
    "DEFAULT_LOW_CONFIDENCE",
    "MAX_NOTE_CHARS",
    "MAX_SAMPLE",
    "AuditBatch",
    "AuditDesk",
    "Correction",
    "SampleBy",
    "SampleRule",
    "transcript_confidence",
]

log = logging.getLogger(__name__)

SampleBy = Literal["day", "operator", "category", "low-confidence", "all"]
DEFAULT_LOW_CONFIDENCE = 0.6
MAX_SAMPLE = 500
MAX_NOTE_CHARS = 2_000
_SEED_RANGE = range(-(2**63), 2**63)
"""What the ``seed`` column (a signed 64-bit integer) holds."""


@dataclass(frozen=True)
class SampleRule:
    """Which calls a QA sample is drawn from, how many, and the seed of the draw.

    ``value`` is the day (``YYYY-MM-DD`` in Beijing time, on the case's creation), the operator (the
    cases' reviewer), the category, or for ``low-confidence`` the threshold as text ("0.6";
    None means :data:`DEFAULT_LOW_CONFIDENCE`): a call is low when the mean of its transcript
    segments' confidences is under it. ``all`` ignores ``value``.

    Raises:
        ValueError: on construction, naming the part of the rule that is wrong.
    """

    by: SampleBy
    value: str | None
    n: int
    seed: int

    def __post_init__(self) -> None:
        if self.by not in get_args(SampleBy):
            raise ValueError(f"by: choose one of {', '.join(get_args(SampleBy))}")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or not 1 <= self.n <= MAX_SAMPLE:
            raise ValueError(f"n: a whole number from 1 to {MAX_SAMPLE}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError("seed: a whole number")
        if self.seed not in _SEED_RANGE:
            raise ValueError("seed: must fit in 64 bits")
        if self.by == "day":
            self.day_start()
        elif self.by == "low-confidence":
            self.threshold()
        elif self.by in ("operator", "category") and not (self.value or "").strip():
            raise ValueError(f"value: say which {self.by}")
        if self.by == "category" and self.value not in CATEGORIES:
            raise ValueError(f"value: {self.value!r} is not a category")

    def day_start(self) -> datetime:
        """Midnight starting the day of a ``day`` rule on the hotline's clock, as UTC."""
        try:
            day = datetime.strptime(self.value or "", "%Y-%m-%d")
            return day.replace(tzinfo=defaults.HOTLINE_TIMEZONE).astimezone(UTC)
        except ValueError as err:
            raise ValueError(f"value: {self.value!r} is not a day as YYYY-MM-DD") from err

    def threshold(self) -> float:
        """The confidence under which a ``low-confidence`` rule takes a call."""
        if self.value is None:
            return DEFAULT_LOW_CONFIDENCE
        try:
            threshold = float(self.value)
        except ValueError as err:
            raise ValueError(f"value: {self.value!r} is not a number between 0 and 1") from err
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"value: {self.value!r} is not a number between 0 and 1")
        return threshold

    def describe(self) -> str:
        """The rule in words, for messages: ``day 2026-11-24``, ``confidence under 0.6``."""
        if self.by == "all":
            return "all: the store has no cases"
        if self.by == "low-confidence":
            return f"transcript confidence under {self.threshold():g}"
        return f"{self.by} {self.value}"

    def to_dict(self) -> dict[str, Any]:
        return {"by": self.by, "value": self.value, "n": self.n, "seed": self.seed}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SampleRule:
        return cls(by=data["by"], value=data.get("value"), n=int(data["n"]), seed=int(data["seed"]))


@dataclass(frozen=True)
class AuditBatch:
    """A drawn sample: its calls in the order drawn."""

    batch_id: str
    created_at: datetime
    created_by: str
    rule: SampleRule
    call_ids: tuple[str, ...]


@dataclass(frozen=True)
class Correction:
    """QA's text for one transcript segment, beside what the machine wrote."""

    call_id: str
    segment: int
    machine_text: str
    corrected_text: str
    actor: str
    at: datetime


def transcript_confidence(transcript: dict[str, Any]) -> float | None:
    """Mean of the segments' ``confidence`` values; None when no segment has one."""
    scores = [
        float(s["confidence"])
        for s in transcript.get("segments") or []
        if isinstance(s.get("confidence"), int | float) and not isinstance(s["confidence"], bool)
    ]
    return sum(scores) / len(scores) if scores else None


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
        with Session(self.engine) as session, session.begin():
            candidates = _candidates(session, rule)
            if not candidates:
                raise ValueError(f"no calls match {rule.describe()}")
            chosen = random.Random(rule.seed).sample(candidates, min(rule.n, len(candidates)))
            row = AuditBatchRow(
                batch_id=str(uuid.uuid4()),
                created_by=actor,
                seed=rule.seed,
                rule=rule.to_dict(),
                size=len(chosen),
            )
            session.add(row)
            session.flush()
            session.add_all(
                AuditItemRow(batch_id=row.batch_id, position=i, case_id=case_id)
                for i, (case_id, _call_id) in enumerate(chosen)
            )
            log.info(
                "batch %s: %d of %d candidates drawn", row.batch_id, len(chosen), len(candidates)
            )
            return _batch(row, tuple(call_id for _case_id, call_id in chosen))

    def batches(self, *, limit: int = 50) -> list[AuditBatch]:
        """The latest samples, newest first."""
        with Session(self.engine) as session:
            rows = session.scalars(
                select(AuditBatchRow)
                .order_by(AuditBatchRow.created_at.desc(), AuditBatchRow.batch_id)
                .limit(limit)
            ).all()
            calls = _calls_of(session, [r.batch_id for r in rows])
            return [_batch(r, calls.get(r.batch_id, ())) for r in rows]

    def batch(self, batch_id: str) -> AuditBatch:
        """One sample.

        Raises:
            CaseNotFound: no sample has that id.
        """
        with Session(self.engine) as session:
            row = session.get(AuditBatchRow, batch_id)
            if row is None:
                raise CaseNotFound(f"no audit batch {batch_id}")
            return _batch(row, _calls_of(session, [batch_id]).get(batch_id, ()))

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


def _candidates(session: Session, rule: SampleRule) -> list[tuple[str, str]]:
    """(case id, call id) of every case the rule admits, ordered by case id."""
    query = select(CaseRow.case_id, CaseRow.call_id).order_by(CaseRow.case_id)
    if rule.by == "day":
        start = rule.day_start()
        query = query.where(
            CaseRow.created_at >= start, CaseRow.created_at < start + timedelta(days=1)
        )
    elif rule.by == "operator":
        query = query.where(CaseRow.reviewer == rule.value)
    elif rule.by == "category":
        query = query.where(CaseRow.category == rule.value)
    elif rule.by == "low-confidence":
        threshold = rule.threshold()
        rows = session.execute(
            select(CaseRow.case_id, CaseRow.call_id, CaseRow.transcript).order_by(CaseRow.case_id)
        ).all()
        return [
            (case_id, call_id)
            for case_id, call_id, transcript in rows
            if (score := transcript_confidence(transcript or {})) is not None and score < threshold
        ]
    return [(case_id, call_id) for case_id, call_id in session.execute(query).all()]


def _calls_of(session: Session, batch_ids: list[str]) -> dict[str, tuple[str, ...]]:
    if not batch_ids:
        return {}
    rows = session.execute(
        select(AuditItemRow.batch_id, CaseRow.call_id)
        .join(CaseRow, CaseRow.case_id == AuditItemRow.case_id)
        .where(AuditItemRow.batch_id.in_(batch_ids))
        .order_by(AuditItemRow.batch_id, AuditItemRow.position)
    ).all()
    calls: dict[str, list[str]] = {}
    for batch_id, call_id in rows:
        calls.setdefault(batch_id, []).append(call_id)
    return {k: tuple(v) for k, v in calls.items()}


def _batch(row: AuditBatchRow, call_ids: tuple[str, ...]) -> AuditBatch:
    return AuditBatch(
        batch_id=row.batch_id,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
        rule=SampleRule.from_dict(row.rule),
        call_ids=call_ids,
    )


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
