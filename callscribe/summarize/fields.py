"""Rule-based extraction of work-order fields from a transcript (offline, deterministic)."""

from __future__ import annotations

import re

from callscribe import defaults
from callscribe.schema import DISTRICTS, CaseFields, Evidence, Segment, Transcript

__all__ = ["extract_case_fields"]

_DIGITS = {
    "零": "0", "〇": "0", "洞": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3",
    "四": "4", "五": "5", "六": "6", "七": "7", "拐": "7", "八": "8", "九": "9",
}  # fmt: skip
_DIGIT_CHARS = "".join(_DIGITS) + "0123456789"
_PHONE_RUN = re.compile(rf"[{_DIGIT_CHARS}][{_DIGIT_CHARS}\s,，、\-—]{{6,}}[{_DIGIT_CHARS}]")
_APPEAL_CUES = (
    ("举报", ("举报",)),
    ("投诉", ("投诉",)),
    ("表扬", ("表扬", "感谢", "锦旗")),
    ("建议", ("建议",)),
    ("咨询", ("咨询", "想问", "请问怎么", "怎么办理")),
    ("求助", ("求助", "帮忙", "救", "困在")),
)


def extract_case_fields(transcript: Transcript) -> CaseFields:
    """Fill the work-order fields found in ``transcript``."""
    fields = CaseFields()
    for index, segment in enumerate(transcript.segments):
        if fields.callback_phone is None:
            phone = _find_phone(segment.text)
            if phone:
                fields.callback_phone = phone
                _cite(fields, "callback_phone", index, segment, 0.7)
        if fields.district is None:
            district = next(
                (d for d in DISTRICTS if d in segment.text or d[:-1] in segment.text), None
            )
            if district:
                fields.district = district
                _cite(fields, "district", index, segment, 0.6)
        if fields.appeal_type == "其他":
            for appeal, cues in _APPEAL_CUES:
                if any(cue in segment.text for cue in cues):
                    fields.appeal_type = appeal
                    _cite(fields, "appeal_type", index, segment, 0.5)
                    break
    caller_text = "".join(s.text for s in transcript.segments if s.speaker != "agent")
    fields.summary = ("来电人反映：" + caller_text)[: defaults.SUMMARY_MAX_CHARS]
    fields.title = caller_text[: defaults.TITLE_MAX_CHARS]
    return fields


def _find_phone(text: str) -> str | None:
    for match in _PHONE_RUN.finditer(text):
        digits = "".join(_DIGITS.get(ch, ch) for ch in match.group() if ch in _DIGIT_CHARS)
        if len(digits) == 11 and digits.startswith("1"):
            return digits
        if len(digits) == 8:
            return digits
        if len(digits) == 11 and digits.startswith("010"):
            return digits[3:]
    return None


def _cite(fields: CaseFields, name: str, index: int, segment: Segment, confidence: float) -> None:
    fields.evidence[name] = [Evidence(index, segment.start, segment.end, segment.text)]
    fields.confidence[name] = confidence
