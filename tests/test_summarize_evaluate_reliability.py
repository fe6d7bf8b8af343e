"""The reliability table of ``eval fields``: confidence bins with count and accuracy."""

from __future__ import annotations

from callscribe.schema import CaseFields
from callscribe.summarize.evaluate import (
    FieldScore,
    format_reliability_lines,
    reliability_report,
    score_call,
)


def _fields(appeal: str, confidence: float, phone: str | None = None) -> CaseFields:
    fields = CaseFields(extractor="rules")
    fields.appeal_type = appeal
    fields.confidence["appeal_type"] = confidence
    if phone is not None:
        fields.callback_phone = phone
        fields.confidence["callback_phone"] = 0.95
    fields.needs_callback = True
    fields.confidence["needs_callback"] = 0.8
    return fields


def test_bins_count_and_accuracy_by_hand() -> None:
    scores: dict[str, FieldScore] = {}
    labels = {"appeal_type": "投诉", "callback_phone": "13800000000", "needs_callback": True}
    calls = [
        ("a", _fields("投诉", 0.3)),  # <0.5, right
        ("b", _fields("咨询", 0.45)),  # <0.5, wrong
        ("c", _fields("投诉", 0.5)),  # 0.5-0.8 (low end included), right
        ("d", _fields("投诉", 0.8, "13800000000")),  # 0.8-0.9, right; phone >=0.9 right
        ("e", _fields("咨询", 0.89)),  # 0.8-0.9, wrong; phone not filled: no confidence
        ("f", _fields("投诉", 1.0, "13900000000")),  # >=0.9, right; phone >=0.9 wrong
    ]
    for call_id, fields in calls:
        score_call(scores, call_id, labels, fields)
    table = reliability_report(scores)
    appeal = {b["bin"]: (b["count"], b["right"]) for b in table["fields"]["appeal_type"]}
    assert appeal == {"<0.5": (2, 1), "0.5-0.8": (1, 1), "0.8-0.9": (2, 1), ">=0.9": (1, 1)}
    phone = {b["bin"]: (b["count"], b["right"]) for b in table["fields"]["callback_phone"]}
    assert phone == {"<0.5": (0, 0), "0.5-0.8": (0, 0), "0.8-0.9": (0, 0), ">=0.9": (2, 1)}
    assert "needs_callback" not in table["fields"]  # not among the fields the table checks
    assert table["high_confidence"] == {"threshold": 0.8, "count": 5, "right": 3, "accuracy": 0.6}
    text = "\n".join(format_reliability_lines(table))
    assert "fields at confidence >= 0.8: 5, right 60.0%" in text
    assert "appeal_type" in text and "callback_phone" in text
