"""What the review pages show and read: the queue's filters, the form's fields, display values.

Kept apart from the routes (``review.py``) so that each stays small. Times are shown, and
filter dates read, in Beijing time (UTC+8, no daylight saving): the hotline's own clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from callscribe import defaults
from callscribe.desk.models import CaseStatus
from callscribe.desk.review import ReviewFilter
from callscribe.schema import APPEAL_TYPES, CATEGORIES, DISTRICTS, FIELD_MAX_CHARS, URGENCIES

__all__ = [
    "BEIJING",
    "FIELD_SPECS",
    "QUEUE_STATUSES",
    "FieldSpec",
    "QueueQuery",
    "clock",
    "display_values",
    "field_rows",
    "history_rows",
    "mmss",
    "parse_queue_query",
    "parse_values",
]

BEIJING = defaults.HOTLINE_TIMEZONE

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MAX_OFFSET = 100_000
_MAX_PARAM = 64

QUEUE_STATUSES: dict[str, tuple[str, ...]] = {
    "waiting": (CaseStatus.AUTO_FILLED, CaseStatus.IN_REVIEW),
    "auto-filled": (CaseStatus.AUTO_FILLED,),
    "in-review": (CaseStatus.IN_REVIEW,),
    "confirmed": (CaseStatus.CONFIRMED,),
    "rejected": (CaseStatus.REJECTED,),
    "all": (),
}
"""The queue's status filter: its choices and the statuses each stands for."""

_CHOICE_PARAMS: dict[str, tuple[str, ...]] = {
    "district": DISTRICTS,
    "category": CATEGORIES,
    "appeal_type": APPEAL_TYPES,
    "urgency": URGENCIES,
}


@dataclass(frozen=True)
class FieldSpec:
    """One field of the review form: its name, its label and the control that edits it."""

    name: str
    label: str
    english: str
    kind: str
    """text | tel | textarea | district | street | community | choice | flag"""
    wide: bool = False

    @property
    def max_chars(self) -> int | None:
        """The longest value the API accepts for this field (``FIELD_MAX_CHARS``)."""
        return FIELD_MAX_CHARS.get(self.name)


FIELD_SPECS: tuple[FieldSpec, ...] = (
    FieldSpec("caller_name", "来电人", "Caller", "text"),
    FieldSpec("callback_phone", "回电号码", "Callback phone", "tel"),
    FieldSpec("district", "区", "District", "district"),
    FieldSpec("street", "街道/乡镇", "Street", "street"),
    FieldSpec("community", "社区", "Community", "community"),
    FieldSpec("address", "详细地址", "Address", "text", wide=True),
    FieldSpec("appeal_type", "诉求类型", "Appeal type", "choice"),
    FieldSpec("category", "类别", "Category", "choice"),
    FieldSpec("urgency", "紧急程度", "Urgency", "choice"),
    FieldSpec("needs_callback", "需要回复", "Callback", "flag"),
    FieldSpec("confidential", "保密", "Confidential", "flag"),
    FieldSpec("title", "标题", "Title", "text", wide=True),
    FieldSpec("summary", "摘要", "Summary", "textarea", wide=True),
)
_NULLABLE = frozenset(
    {"caller_name", "callback_phone", "district", "street", "community", "address"}
)
"""Fields an empty control clears (to None); title and summary stay text, the choices must
hold one of their values."""
_FLAG_VALUES: dict[str, bool | None] = {"yes": True, "no": False, "": None}


@dataclass
class QueueQuery:
    """The queue's query string, checked: what to show and the problems found in it."""

    status: str = "waiting"
    district: str = ""
    category: str = ""
    appeal_type: str = ""
    urgency: str = ""
    since: str = ""
    until: str = ""
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    errors: list[str] = field(default_factory=list)

    def review_filter(self) -> ReviewFilter:
        since = _day_start(self.since) if self.since else None
        until = _day_start(self.until) + timedelta(days=1) if self.until else None
        return ReviewFilter(
            status=QUEUE_STATUSES[self.status],
            district=self.district or None,
            category=self.category or None,
            appeal_type=self.appeal_type or None,
            urgency=self.urgency or None,
            since=since,
            until=until,
        )

    def url(self, **changes: Any) -> str:
        """The queue's address with these filters, changed as given (empty values left out)."""
        values = {
            "status": self.status,
            "district": self.district,
            "category": self.category,
            "appeal_type": self.appeal_type,
            "urgency": self.urgency,
            "since": self.since,
            "until": self.until,
            "limit": self.limit,
            "offset": self.offset,
            **changes,
        }
        defaults = {"status": "waiting", "limit": DEFAULT_LIMIT, "offset": 0}
        kept = {k: v for k, v in values.items() if v not in ("", None) and defaults.get(k) != v}
        return "/review" + (f"?{urlencode(kept)}" if kept else "")


def parse_queue_query(params: Mapping[str, str]) -> QueueQuery:
    """Read the queue's filters; each bad one is dropped and named in ``errors``."""
    query = QueueQuery()
    raw = {k: str(params.get(k) or "").strip() for k in _QUERY_KEYS}
    for name, value in raw.items():
        if len(value) > _MAX_PARAM:
            query.errors.append(f"{name}: at most {_MAX_PARAM} characters")
            raw[name] = ""
    if raw["status"]:
        if raw["status"] in QUEUE_STATUSES:
            query.status = raw["status"]
        else:
            query.errors.append(
                f"status: {raw['status']!r} is not one of {', '.join(QUEUE_STATUSES)}"
            )
    for name, allowed in _CHOICE_PARAMS.items():
        value = raw[name]
        if value and value not in allowed:
            query.errors.append(f"{name}: {value!r} is not one of {', '.join(allowed)}")
        elif value:
            setattr(query, name, value)
    for name in ("since", "until"):
        value = raw[name]
        if value:
            try:
                date.fromisoformat(value)
            except ValueError:
                query.errors.append(f"{name}: {value!r} is not a date (YYYY-MM-DD)")
            else:
                setattr(query, name, value)
    if query.since and query.until and query.since > query.until:
        query.errors.append("until: comes before since")
    query.limit = _bounded_int(raw["limit"], "limit", 1, MAX_LIMIT, DEFAULT_LIMIT, query.errors)
    query.offset = _bounded_int(raw["offset"], "offset", 0, MAX_OFFSET, 0, query.errors)
    return query


_QUERY_KEYS = ("status", *_CHOICE_PARAMS, "since", "until", "limit", "offset")


def _bounded_int(
    value: str, name: str, low: int, high: int, default: int, errors: list[str]
) -> int:
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        errors.append(f"{name}: {value!r} is not a whole number")
        return default
    if not low <= number <= high:
        errors.append(f"{name}: must be between {low} and {high}")
        return default
    return number


def _day_start(day: str) -> datetime:
    """Midnight in Beijing of ``day``, in UTC."""
    return datetime.combine(date.fromisoformat(day), time(), BEIJING).astimezone(UTC)


def clock(iso: str | None, *, seconds: bool = False) -> str:
    """An ISO time from the store as Beijing wall-clock time, e.g. ``2026-11-26 09:05``."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def mmss(seconds: Any) -> str:
    """Seconds as ``mm:ss`` (``--:--`` when unknown)."""
    if not isinstance(seconds, int | float) or seconds < 0:
        return "--:--"
    whole = int(seconds)
    return f"{whole // 60:02d}:{whole % 60:02d}"


def display_values(fields: Mapping[str, Any]) -> dict[str, str]:
    """The stored fields as the form's controls hold them (strings; flags as yes/no/'')."""
    out: dict[str, str] = {}
    for spec in FIELD_SPECS:
        value = fields.get(spec.name)
        if spec.kind == "flag":
            out[spec.name] = "yes" if value is True else "no" if value is False else ""
        else:
            out[spec.name] = "" if value is None else str(value)
    return out


def parse_values(raw: Mapping[str, str]) -> dict[str, Any]:
    """The form's strings as field values. Only the fields present are returned.

    Raises:
        ValueError: a yes/no field holds something else (names the field).
    """
    values: dict[str, Any] = {}
    for spec in FIELD_SPECS:
        if spec.name not in raw:
            continue
        text = raw[spec.name].replace("\r\n", "\n")
        if spec.kind == "flag":
            if text not in _FLAG_VALUES:
                raise ValueError(f"{spec.name}: choose yes, no or not said")
            values[spec.name] = _FLAG_VALUES[text]
        elif not text.strip():
            values[spec.name] = None if spec.name in _NULLABLE else ""
        else:
            values[spec.name] = text
    return values


def field_rows(
    view: Mapping[str, Any],
    values: Mapping[str, str],
    *,
    low_confidence: float,
    error_field: str | None,
) -> list[dict[str, Any]]:
    """One row per form field: its spec, the value in the control, the machine's value,
    confidence, evidence, and whether it is low, edited or the one an error names."""
    machine = display_values(view.get("machine_fields") or {})
    confidence = view.get("confidence") or {}
    evidence = view.get("evidence") or {}
    rows = []
    for spec in FIELD_SPECS:
        score = confidence.get(spec.name)
        score = float(score) if isinstance(score, int | float) else None
        items = evidence.get(spec.name) or []
        rows.append(
            {
                "spec": spec,
                "value": values.get(spec.name, ""),
                "machine": machine[spec.name],
                "confidence": score,
                "low": score is not None and score < low_confidence,
                "edited": values.get(spec.name, "") != machine[spec.name],
                "invalid": spec.name == error_field,
                "evidence": [
                    {
                        "segment": item.get("segment"),
                        "start": float(item.get("start") or 0.0),
                        "time": mmss(item.get("start")),
                        "text": str(item.get("text") or ""),
                    }
                    for item in items
                    if isinstance(item, dict)
                ],
            }
        )
    return rows


def history_rows(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The audit trail, oldest first, with values shown as text."""
    return [
        {
            **event,
            "when": clock(event.get("at"), seconds=True),
            "machine_text": _shown(event.get("machine_value")),
            "old_text": _shown(event.get("old_value")),
            "new_text": _shown(event.get("new_value")),
        }
        for event in history
    ]


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是 yes" if value else "否 no"
    if isinstance(value, str):
        return value or "（空 empty）"
    return json.dumps(value, ensure_ascii=False)
