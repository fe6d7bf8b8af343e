"""What the audit page shows of a case: lines with QA's corrections, fields, notes, all masked for
``qa-redacted`` auditors.

The case view (:func:`callscribe.desk.presenters.case_view`) drops the segments' word timings,
so the words are read from the stored transcript (:meth:`EmbeddedCaseDesk.get_case`). A line
shows its words only while they spell the line's text, QA has not corrected it and the
auditor may see personal data: a masked line cannot be split back into the words said.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callscribe.desk.audit import AuditDesk, Correction
from callscribe.desk.presenters import EDITABLE_FIELDS
from callscribe.desk.redact import case_names, redact_case, redact_text
from callscribe.desk.sampling import AuditBatch
from callscribe.desk.store import EmbeddedCaseDesk
from callscribe.errors import CaseNotFound
from callscribe.schema import Segment, Transcript

__all__ = [
    "FIELD_LABELS",
    "SPEAKER_LABELS",
    "AuditCall",
    "BatchRow",
    "Line",
    "Word",
    "audit_call",
    "audited_transcript",
    "batch_rows",
]

FIELD_LABELS = {
    "caller_name": "来电人 Caller",
    "callback_phone": "回访电话 Callback phone",
    "district": "区 District",
    "street": "街道 Street",
    "community": "社区 Community",
    "address": "地址 Address",
    "appeal_type": "诉求类型 Appeal type",
    "category": "类别 Category",
    "urgency": "紧急程度 Urgency",
    "needs_callback": "需要回复 Needs callback",
    "confidential": "保密 Confidential",
    "title": "标题 Title",
    "summary": "摘要 Summary",
}
SPEAKER_LABELS = {"agent": "坐席", "caller": "来电人"}


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float
    probability: float
    low: bool


@dataclass(frozen=True)
class Line:
    """One transcript segment as the page shows it."""

    index: int
    start: float
    end: float
    speaker: str | None
    text: str
    """QA's latest text when corrected, else the machine's."""
    machine_text: str
    confidence: float | None
    low: bool
    correction: Correction | None
    words: tuple[Word, ...] = ()
    low_words: tuple[str, ...] = ()
    """Low-probability words of a line whose words do not spell its text."""


@dataclass(frozen=True)
class AuditCall:
    """One call as the audit page shows it."""

    view: dict[str, Any]
    lines: list[Line]
    notes: list[dict[str, Any]]
    flags: dict[str, int]
    fields: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class BatchRow:
    """One call of a batch, with how far QA got with it (``corrected``: lines QA saved text for,
    as the call's page counts them)."""

    call_id: str
    found: bool
    title: str = ""
    category: str = ""
    status: str = ""
    duration: float | None = None
    corrected: int = 0
    flags: int = 0
    comments: int = 0


def audit_call(
    desk: EmbeddedCaseDesk,
    audit: AuditDesk,
    call_id: str,
    *,
    redacted: bool,
    low_confidence: float,
) -> AuditCall:
    """Everything the audit page shows of one call.

    Raises:
        CaseNotFound: no case for the call.
    """
    view = desk.case_detail(call_id)
    stored = desk.get_case(call_id)
    raw_segments = (stored.transcript.get("segments") if stored else None) or []
    corrections = audit.corrections(call_id)
    notes = audit.notes(call_id)
    names = case_names(view)
    shown = _with_corrections(view, corrections)
    machine_view = view
    if redacted:
        machine_view = redact_case(view)
        shown = redact_case(shown)
        notes = [
            {**n, "text": redact_text(n["text"], names=names) if n["text"] else n["text"]}
            for n in notes
        ]
    lines = []
    for segment, machine in zip(
        shown["transcript"]["segments"], machine_view["transcript"]["segments"], strict=True
    ):
        index = int(segment["index"])
        correction = corrections.get(index)
        confidence = _number(segment.get("confidence"))
        raw = raw_segments[index] if index < len(raw_segments) else {}
        words = () if redacted or correction else _words(raw.get("words"), low_confidence)
        spelled = "".join(w.text for w in words).strip() == str(machine["text"] or "").strip()
        lines.append(
            Line(
                index=index,
                start=_number(segment.get("start")) or 0.0,
                end=_number(segment.get("end")) or 0.0,
                speaker=segment.get("speaker"),
                text=str(segment.get("text") or ""),
                machine_text=str(machine.get("text") or ""),
                confidence=confidence,
                low=confidence is not None and confidence < low_confidence,
                correction=_masked(correction, segment, machine) if redacted else correction,
                words=words if spelled else (),
                low_words=() if spelled else tuple(w.text for w in words if w.low),
            )
        )
    flags: dict[str, int] = {}
    for note in notes:
        if note["kind"] == "flag" and note["field"]:
            flags[note["field"]] = flags.get(note["field"], 0) + 1
    return AuditCall(
        view=shown,
        lines=lines,
        notes=notes,
        flags=flags,
        fields=_fields(shown, low_confidence, flags),
    )


def audited_transcript(
    desk: EmbeddedCaseDesk,
    audit: AuditDesk,
    call_id: str,
    *,
    corrected: bool,
    redacted: bool,
) -> Transcript:
    """The call's transcript for export: QA's corrections in place when ``corrected``, masked
    when ``redacted``; word timings are left out (a corrected line no longer matches them).

    Raises:
        CaseNotFound: no case for the call.
    """
    stored = desk.get_case(call_id)
    if stored is None:
        raise CaseNotFound(f"no case for call {call_id}")
    view = desk.case_detail(call_id)
    if corrected:
        view = _with_corrections(view, audit.corrections(call_id))
    if redacted:
        view = redact_case(view)
    transcript = stored.transcript
    return Transcript(
        duration=_number(transcript.get("duration")) or 0.0,
        language=str(transcript.get("language") or "zh"),
        engine=str(transcript.get("engine") or ""),
        model=str(transcript.get("model") or ""),
        segments=[
            Segment(
                start=_number(s.get("start")) or 0.0,
                end=_number(s.get("end")) or 0.0,
                text=str(s.get("text") or ""),
                speaker=s.get("speaker"),
                confidence=_number(s.get("confidence")) or 0.0,
            )
            for s in view["transcript"]["segments"]
        ],
    )


def batch_rows(
    desk: EmbeddedCaseDesk, audit: AuditDesk, batch: AuditBatch, *, redacted: bool
) -> list[BatchRow]:
    """The calls of a batch in the order drawn, with their QA work so far."""
    rows = []
    for call_id in batch.call_ids:
        stored = desk.get_case(call_id)
        if stored is None:
            rows.append(BatchRow(call_id=call_id, found=False))
            continue
        notes = audit.notes(call_id)
        title = str(stored.fields.get("title") or "")
        if redacted:
            title = redact_text(title, names=case_names({"fields": stored.fields}))
        rows.append(
            BatchRow(
                call_id=call_id,
                found=True,
                title=title,
                category=str(stored.fields.get("category") or ""),
                status=stored.status,
                duration=_number(stored.transcript.get("duration")),
                corrected=len(audit.corrections(call_id)),
                flags=sum(n["kind"] == "flag" for n in notes),
                comments=sum(n["kind"] == "comment" for n in notes),
            )
        )
    return rows


def _with_corrections(view: dict[str, Any], corrections: dict[int, Correction]) -> dict[str, Any]:
    segments = [
        {**s, "text": corrections[s["index"]].corrected_text} if s["index"] in corrections else s
        for s in view["transcript"]["segments"]
    ]
    return {
        **view,
        "transcript": {
            **view["transcript"],
            "segments": segments,
            "text": "".join(str(s.get("text") or "") for s in segments),
        },
    }


def _masked(
    correction: Correction | None, segment: dict[str, Any], machine: dict[str, Any]
) -> Correction | None:
    if correction is None:
        return None
    return Correction(
        call_id=correction.call_id,
        segment=correction.segment,
        machine_text=str(machine.get("text") or ""),
        corrected_text=str(segment.get("text") or ""),
        actor=correction.actor,
        at=correction.at,
    )


def _words(raw: Any, low_confidence: float) -> tuple[Word, ...]:
    if not isinstance(raw, list):
        return ()
    words = []
    for item in raw:
        if not isinstance(item, dict):
            return ()
        start, end = _number(item.get("start")), _number(item.get("end"))
        probability = _number(item.get("probability"))
        text = item.get("word")
        if start is None or end is None or probability is None or not isinstance(text, str):
            return ()
        words.append(Word(text, start, end, probability, probability < low_confidence))
    return tuple(words)


def _fields(
    view: dict[str, Any], low_confidence: float, flags: dict[str, int]
) -> list[dict[str, Any]]:
    edited = set(view.get("edited_fields") or [])
    confidence = view.get("confidence") or {}
    evidence = view.get("evidence") or {}
    out = []
    for name in EDITABLE_FIELDS:
        score = _number(confidence.get(name))
        out.append(
            {
                "name": name,
                "label": FIELD_LABELS.get(name, name),
                "value": _shown(view["fields"].get(name)),
                "machine": _shown(view["machine_fields"].get(name)),
                "edited": name in edited,
                "confidence": score,
                "low": score is not None and score < low_confidence,
                "evidence": [
                    str(e.get("text") or "")
                    for e in evidence.get(name) or []
                    if isinstance(e, dict)
                ],
                "flags": flags.get(name, 0),
            }
        )
    return out


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if value is True:
        return "是 yes"
    if value is False:
        return "否 no"
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
