"""The operators' review: a queue of cases waiting, taking one, confirming or rejecting it.

Every decision is one transaction that checks the revision the operator saw, so two operators
never overwrite each other unnoticed. What the machine filled in stays in ``machine_fields``;
each correction leaves a ``field-edit`` event with the machine's, the old and the new value.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, case
from sqlalchemy.orm import Session

from callscribe.desk.models import CaseEventRow, CaseRow, CaseStatus
from callscribe.desk.presenters import EDITABLE_FIELDS, case_summary
from callscribe.desk.store import (
    CaseFilter,
    _apply_edits,
    _check_editable,
    _detail,
    _move,
    _page,
    _require,
    _take_for_review,
)
from callscribe.schema import APPEAL_TYPES, CATEGORIES, DISTRICTS, FIELD_MAX_CHARS, URGENCIES

__all__ = ["MAX_SUMMARY_CHARS", "MAX_TEXT_CHARS", "ReviewDesk", "ReviewFilter", "validate_edits"]

log = logging.getLogger(__name__)

URGENT = "紧急"
MAX_TEXT_CHARS = 2_000
"""A reject reason, or a text field without a cap of its own in ``FIELD_MAX_CHARS``."""
MAX_SUMMARY_CHARS = FIELD_MAX_CHARS["summary"]
_MAX_PHONE_CHARS = FIELD_MAX_CHARS["callback_phone"]
_PHONE_CHARS = frozenset("0123456789+- ")

_CHOICES: dict[str, tuple[str, ...]] = {
    "district": DISTRICTS,
    "appeal_type": APPEAL_TYPES,
    "category": CATEGORIES,
    "urgency": URGENCIES,
}
_NULLABLE_CHOICES = frozenset({"district"})
_FLAGS = frozenset({"needs_callback", "confidential"})
_REQUIRED_TEXT = frozenset({"title", "summary"})
_PLACE_FIELDS = frozenset({"district", "street", "community"})


@dataclass(frozen=True)
class ReviewFilter(CaseFilter):
    """Which cases the review queue shows: by default those waiting (auto-filled, in review).

    Like :class:`~callscribe.desk.store.CaseFilter`: ``None`` means any; ``since`` and
    ``until`` bound ``created_at``.
    """

    status: tuple[str, ...] = (CaseStatus.AUTO_FILLED.value, CaseStatus.IN_REVIEW.value)


class ReviewDesk:
    """What an operator does with the cases the machine filled.

    Args:
        engine: the store.
        low_confidence: a field whose confidence is under this stands out in the queue.
    """

    def __init__(self, engine: Engine, *, low_confidence: float = 0.6) -> None:
        self.engine = engine
        self.low_confidence = low_confidence

    def review_queue(
        self, where: ReviewFilter, *, limit: int = 25, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the cases waiting, urgent first, then oldest first; and how many wait.

        Each item is a case summary plus ``confidence_min`` (the lowest confidence of a filled
        editable field, None when there is none) and ``low_fields`` (how many are under
        ``low_confidence``).
        """
        urgent_first = case((CaseRow.urgency == URGENT, 0), else_=1)
        rows, total = _page(
            self.engine, where, (urgent_first, CaseRow.created_at, CaseRow.case_id), limit, offset
        )
        return [self._queue_item(r) for r in rows], total

    def open_case(self, call_id: str, *, actor: str) -> dict[str, Any]:
        """Open a case for review: an auto-filled one becomes ``actor``'s, in review.

        A case another operator is reviewing, or one decided already, is shown unchanged;
        ``taken_by`` names the other reviewer (None when it is ``actor``'s or nobody's).

        Raises:
            CaseNotFound: no case for the call.
        """
        with Session(self.engine) as session, session.begin():
            row = _require(session, call_id, None)
            if row.status == CaseStatus.AUTO_FILLED:
                _move(session, row, CaseStatus.IN_REVIEW, actor, None)
                row.revision += 1
                log.info("call %s: case taken for review", call_id)
            session.flush()
            taken_by = (
                row.reviewer
                if row.status == CaseStatus.IN_REVIEW and row.reviewer not in (None, actor)
                else None
            )
            return {**_detail(session, row), "taken_by": taken_by}

    def confirm(
        self, call_id: str, edits: dict[str, Any], *, actor: str, revision: int
    ) -> dict[str, Any]:
        """Apply the operator's last corrections and confirm the case, in one transaction.

        The trail shows the move to in-review (for a case still auto-filled), one
        ``field-edit`` per changed field, the move to confirmed and a ``confirmed`` event: the
        operator vouches for every other field as the machine filled it.

        Raises:
            CaseNotFound: no case for the call.
            CaseStateConflict: ``revision`` is stale, or the case is decided already.
            ValueError: an unknown field or a value the form does not allow (names the field).
        """
        with Session(self.engine) as session, session.begin():
            row = _require(session, call_id, revision)
            _take_for_review(session, row, actor)
            validate_edits(edits, current=row.fields)
            _apply_edits(session, row, edits, actor=actor, note=None)
            _move(session, row, CaseStatus.CONFIRMED, actor, None)
            session.add(CaseEventRow(case_id=row.case_id, actor=actor, action="confirmed"))
            row.reviewer = actor
            row.revision += 1
            session.flush()
            log.info("call %s: case confirmed with %d field(s) edited", call_id, len(edits))
            return _detail(session, row)

    def reject(self, call_id: str, reason: str, *, actor: str, revision: int) -> dict[str, Any]:
        """Reject a case (a duplicate, a hang-up, not a work order) saying why.

        Raises:
            CaseNotFound: no case for the call.
            CaseStateConflict: ``revision`` is stale, or the case is decided already.
            ValueError: the reason is blank, too long or holds a NUL character.
        """
        if not reason.strip():
            raise ValueError("reason: say why the case is rejected")
        _check_text("reason", reason, MAX_TEXT_CHARS)
        with Session(self.engine) as session, session.begin():
            row = _require(session, call_id, revision)
            _take_for_review(session, row, actor)
            _move(session, row, CaseStatus.REJECTED, actor, reason)
            row.reviewer = actor
            row.revision += 1
            session.flush()
            log.info("call %s: case rejected", call_id)
            return _detail(session, row)

    def field_options(self) -> dict[str, Any]:
        """The values the review form offers.

        ``streets`` maps each district to its streets/towns; ``communities`` maps each district
        to its streets, each to its communities (street names repeat across districts, so the
        district comes first).
        """
        tree = _place_tree()
        return {
            "districts": list(DISTRICTS),
            "streets": {d: list(tree.get(d, {})) for d in DISTRICTS},
            "communities": {
                d: {s: list(cs) for s, cs in tree.get(d, {}).items()} for d in DISTRICTS
            },
            "appeal_types": list(APPEAL_TYPES),
            "categories": list(CATEGORIES),
            "urgencies": list(URGENCIES),
        }

    def _queue_item(self, row: CaseRow) -> dict[str, Any]:
        confidences = _field_confidences(row.fields or {})
        return {
            **case_summary(row),
            "confidence_min": min(confidences) if confidences else None,
            "low_fields": sum(c < self.low_confidence for c in confidences),
        }


def _field_confidences(fields: dict[str, Any]) -> list[float]:
    """Confidences of the editable fields that hold a value (numbers only)."""
    scores = fields.get("confidence") or {}
    return [
        float(scores[name])
        for name in EDITABLE_FIELDS
        if isinstance(scores.get(name), int | float) and fields.get(name) not in (None, "")
    ]


def validate_edits(edits: dict[str, Any], *, current: dict[str, Any]) -> None:
    """Check an operator's corrections against what the form allows.

    Street and community are checked against the district the case ends up with (``current``
    overlaid with ``edits``) whenever any of the three is edited, so a new district cannot
    leave a street of the old one behind unnoticed.

    Raises:
        ValueError: one line naming the first field that is wrong.
    """
    _check_editable(edits)
    for name, value in edits.items():
        _check_value(name, value)
    if _PLACE_FIELDS & set(edits):
        merged = {**current, **edits}
        _check_place(merged.get("district"), merged.get("street"), merged.get("community"))


def _check_value(name: str, value: Any) -> None:
    if name in _CHOICES:
        if value is None and name in _NULLABLE_CHOICES:
            return
        if value not in _CHOICES[name]:
            raise ValueError(f"{name}: {value!r} is not one of {', '.join(_CHOICES[name])}")
    elif name in _FLAGS:
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"{name}: must be true, false or empty")
    elif value is None and name not in _REQUIRED_TEXT:
        return
    elif not isinstance(value, str):
        raise ValueError(f"{name}: must be text")
    else:
        _check_text(name, value, FIELD_MAX_CHARS.get(name, MAX_TEXT_CHARS))
        if name == "callback_phone" and (
            len(value) > _MAX_PHONE_CHARS or not set(value) <= _PHONE_CHARS
        ):
            raise ValueError(
                f"{name}: digits, spaces, '+' and '-' only, at most {_MAX_PHONE_CHARS}"
            )


def _check_text(name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise ValueError(f"{name}: at most {limit} characters, not {len(value)}")
    if "\x00" in value:
        raise ValueError(f"{name}: NUL characters are not allowed")


def _check_place(district: Any, street: Any, community: Any) -> None:
    tree = _place_tree()
    if street is not None:
        if district is None:
            raise ValueError("street: choose the district first")
        if street not in tree.get(district, {}):
            raise ValueError(f"street: {street} is not in {district}")
    if community is not None:
        if street is None:
            raise ValueError("community: choose the street first")
        if community not in tree[district][street]:
            raise ValueError(f"community: {community} is not in {district} {street}")


@functools.cache
def _place_tree() -> dict[str, dict[str, tuple[str, ...]]]:
    """District -> street -> communities, from the gazetteer (built on first use, ~0.3 s).

    Two communities that share their name with a street elsewhere are missing: the gazetteer
    keeps only the street reading of such names.
    """
    from callscribe.summarize.gazetteer import gazetteer

    tree: dict[str, dict[str, list[str]]] = {}
    for places in gazetteer().keys.values():
        for place in places:
            if not place.exact or place.street is None:
                continue
            streets = tree.setdefault(place.district, {})
            communities = streets.setdefault(place.street, [])
            if place.kind == "community" and place.name not in communities:
                communities.append(place.name)
    return {d: {s: tuple(cs) for s, cs in streets.items()} for d, streets in tree.items()}
