"""Work-order fields from a transcript: offline rules first, an optional LLM on top.

``extract_case_fields`` is what ``callscribe extract`` and the pipeline call. Each filled field
gets evidence (segment index, times, text) and a confidence in 0..1. When CALLSCRIBE_LLM_URL is
set, an OpenAI-compatible model may refine the result; anything it gets wrong falls back to the
rules (see :mod:`callscribe.summarize.llm`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from callscribe.schema import CaseFields, Segment, Transcript
from callscribe.summarize.address import resolve_address
from callscribe.summarize.classify import (
    classify_appeal,
    classify_category,
    classify_urgency,
    find_flags,
)
from callscribe.summarize.dialogue import Turn, cite, turns_of
from callscribe.summarize.gazetteer import gazetteer
from callscribe.summarize.names import find_caller_name
from callscribe.summarize.phone import find_callback_phone
from callscribe.summarize.summary import write_summary, write_title

if TYPE_CHECKING:
    from callscribe.summarize.llm import LlmExtractor

__all__ = ["extract_case_fields", "extract_offline", "warm_up"]

log = logging.getLogger(__name__)

_UNASKED_CONFIDENCE = 0.6


def warm_up() -> None:
    """Load the rules, the gazetteer, jieba and the classifier now, so the first call is fast."""
    from callscribe.summarize.case_model import case_model
    from callscribe.summarize.llm import extractor_from_settings
    from callscribe.summarize.name_cues import segmenter

    extractor_from_settings()
    gazetteer()
    segmenter()
    case_model()
    sample = Segment(0.0, 1.0, "我叫王芳，住朝阳区望京，电话一三八一二三四五六七八。")
    extract_offline(Transcript(duration=1.0, segments=[sample]))


def extract_offline(transcript: Transcript) -> CaseFields:
    """The rules-only extraction: deterministic, no network."""
    turns = turns_of(transcript)
    fields = CaseFields(extractor="rules")
    phone = find_callback_phone(turns)
    if phone is not None:
        fields.callback_phone = phone.number
        cite(fields, "callback_phone", phone.turns, phone.confidence)
        if phone.confirmed and phone.number:
            fields.confirmed.append("callback_phone")
    name = find_caller_name(turns)
    if name is not None:
        fields.caller_name = name.name
        cite(fields, "caller_name", name.turns, name.confidence)
    place = resolve_address(turns)
    for key in ("district", "street", "community", "address"):
        value = getattr(place, key)
        if value is not None and place.evidence and place.confidence:
            setattr(fields, key, value)
            cite(fields, key, place.evidence[key], place.confidence[key])
    if place.district and _district_confirmed(turns, place.district):
        fields.confirmed.append("district")
    urgency = classify_urgency(turns)
    fields.urgency = urgency.value
    cite(fields, "urgency", urgency.turns, urgency.confidence)
    flags = find_flags(turns)
    confidential = flags.get("confidential", (False, []))[0]
    appeal = classify_appeal(turns, urgent=urgency.value == "紧急", confidential=confidential)
    fields.appeal_type = appeal.value
    cite(fields, "appeal_type", appeal.turns, appeal.confidence)
    category = classify_category(turns)
    fields.category = category.value
    cite(fields, "category", category.turns, category.confidence)
    for flag, (value, flag_turns) in flags.items():
        setattr(fields, flag, value)
        cite(fields, flag, flag_turns, 0.8)
    if fields.confidential is None:
        # Confidentiality is the caller's to ask for: a call that never asks is not confidential.
        fields.confidential = False
        cite(fields, "confidential", [], _UNASKED_CONFIDENCE)
    caller_turns = [t for t in turns if t.from_caller]
    fields.title = write_title(fields, turns)
    fields.summary = write_summary(fields, turns)
    cite(fields, "summary", caller_turns, 0.5)
    cite(fields, "title", caller_turns[:3], 0.5)
    return fields


def _district_confirmed(turns: list[Turn], district: str) -> bool:
    """The caller said the district, or agreed when the agent read it back."""
    short = district[:-1]
    for turn in turns:
        if turn.speaker == "caller" and district in turn.text:
            return True
        if turn.speaker == "agent" and short in turn.text and turn.index + 1 < len(turns):
            answer = turns[turn.index + 1]
            agreed = answer.text.lstrip("，,。 嗯").startswith(("对", "是"))
            if answer.speaker == "caller" and agreed:
                return True
    return False


def extract_case_fields(transcript: Transcript, *, llm: LlmExtractor | None = None) -> CaseFields:
    """Fill the work-order fields found in ``transcript``.

    Args:
        transcript: the call, turn by turn (speakers may be unknown).
        llm: an LLM extractor to refine the rules' result; by default one is built from
            CALLSCRIBE_LLM_URL when that is set, else the rules' result is returned.
    """
    fields = extract_offline(transcript)
    if llm is None:
        from callscribe.summarize.llm import extractor_from_settings

        llm = extractor_from_settings()
    if llm is None:
        return fields
    return llm.refine(transcript, fields)
