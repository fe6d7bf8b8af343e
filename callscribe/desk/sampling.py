"""QA samples: the rules that pick calls for an audit, and the batches they draw.

A sample is drawn by a :class:`SampleRule` and a seed: the candidates are ordered by case id
and ``random.Random(seed).sample`` picks from them, so the same rule and seed over the same
cases always give the same calls. A drawn sample is kept as an :class:`AuditBatch`, its calls in
the order drawn. :class:`callscribe.desk.audit.AuditDesk` offers these to QA.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from callscribe import defaults
from callscribe.db import as_utc
from callscribe.desk.models import AuditBatchRow, AuditItemRow, CaseRow
from callscribe.errors import CaseNotFound
from callscribe.schema import CATEGORIES

__all__ = [
    "DEFAULT_LOW_CONFIDENCE",
    "MAX_SAMPLE",
    "AuditBatch",
    "SampleBy",
    "SampleRule",
    "batch",
    "batches",
    "draw_sample",
    "transcript_confidence",
]

log = logging.getLogger(__name__)

SampleBy = Literal["day", "operator", "category", "low-confidence", "all"]
DEFAULT_LOW_CONFIDENCE = 0.6
MAX_SAMPLE = 500
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


def transcript_confidence(transcript: dict[str, Any]) -> float | None:
    """Mean of the segments' ``confidence`` values; None when no segment has one."""
    scores = [
        float(s["confidence"])
        for s in transcript.get("segments") or []
        if isinstance(s.get("confidence"), int | float) and not isinstance(s["confidence"], bool)
    ]
    return sum(scores) / len(scores) if scores else None


def draw_sample(engine: Engine, rule: SampleRule, *, actor: str) -> AuditBatch:
    """Draw and keep a sample; fewer candidates than ``rule.n`` are all taken.

    Raises:
        ValueError: no case matches the rule.
    """
    with Session(engine) as session, session.begin():
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
        log.info("batch %s: %d of %d candidates drawn", row.batch_id, len(chosen), len(candidates))
        return _batch(row, tuple(call_id for _case_id, call_id in chosen))


def batches(engine: Engine, *, limit: int = 50) -> list[AuditBatch]:
    """The latest samples, newest first."""
    with Session(engine) as session:
        rows = session.scalars(
            select(AuditBatchRow)
            .order_by(AuditBatchRow.created_at.desc(), AuditBatchRow.batch_id)
            .limit(limit)
        ).all()
        calls = _calls_of(session, [r.batch_id for r in rows])
        return [_batch(r, calls.get(r.batch_id, ())) for r in rows]


def batch(engine: Engine, batch_id: str) -> AuditBatch:
    """One sample.

    Raises:
        CaseNotFound: no sample has that id.
    """
    with Session(engine) as session:
        row = session.get(AuditBatchRow, batch_id)
        if row is None:
            raise CaseNotFound(f"no audit batch {batch_id}")
        return _batch(row, _calls_of(session, [batch_id]).get(batch_id, ()))


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
