"""How cases look to the pages: list summaries and the one-case review view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from callscribe.db import iso_utc
from callscribe.desk.models import CaseEventRow, CaseRow, allowed_moves
from callscribe.schema import CaseFields

__all__ = ["EDITABLE_FIELDS", "case_summary", "case_view"]

EDITABLE_FIELDS = tuple(
    name
    for name in CaseFields.__dataclass_fields__
    if name not in ("evidence", "confidence", "extractor", "confirmed")
)
"""Work-order fields an operator may correct."""


def case_view(row: CaseRow, events: Sequence[CaseEventRow], *, has_audio: bool) -> dict[str, Any]:
    """Everything a review page shows for one case (the ``CaseDetail`` body)."""
    fields = dict(row.fields)
    machine = dict(row.machine_fields or {})
    segments = [
        {"index": i, **{k: s.get(k) for k in ("start", "end", "speaker", "text", "confidence")}}
        for i, s in enumerate(row.transcript.get("segments") or [])
    ]
    return {
        **case_summary(row),
        "fields": {k: fields.get(k) for k in EDITABLE_FIELDS},
        "machine_fields": {k: machine.get(k) for k in EDITABLE_FIELDS},
        "edited_fields": [k for k in EDITABLE_FIELDS if fields.get(k) != machine.get(k)],
        "evidence": fields.get("evidence") or {},
        "confidence": fields.get("confidence") or {},
        "extractor": fields.get("extractor"),
        "confirmed": fields.get("confirmed") or [],
        "transcript": {
            "duration": row.transcript.get("duration"),
            "language": row.transcript.get("language"),
            "text": row.transcript.get("text"),
            "segments": segments,
        },
        "metadata": dict(row.case_metadata or {}),
        "audio_url": f"/api/desk/cases/{row.call_id}/audio" if has_audio else None,
        "allowed_statuses": [s.value for s in allowed_moves(row.status)],
        "history": [_event(e) for e in events],
    }


def case_summary(row: CaseRow) -> dict[str, Any]:
    fields = row.fields or {}
    return {
        "case_id": row.case_id,
        "call_id": row.call_id,
        "status": row.status,
        "revision": row.revision,
        "reviewer": row.reviewer,
        "title": fields.get("title") or "",
        "summary": fields.get("summary") or "",
        "district": row.district,
        "category": row.category,
        "appeal_type": row.appeal_type,
        "urgency": row.urgency,
        "duration": (row.transcript or {}).get("duration"),
        "created_at": iso_utc(row.created_at),
        "updated_at": iso_utc(row.updated_at),
    }


def _event(event: CaseEventRow) -> dict[str, Any]:
    return {
        "at": iso_utc(event.at),
        "actor": event.actor,
        "action": event.action,
        "field": event.field,
        "machine_value": event.machine_value,
        "old_value": event.old_value,
        "new_value": event.new_value,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "note": event.note,
    }
