"""Per-field accuracy of the extractor on labelled transcripts (``callscribe eval fields``).

Format, one JSON object per line::

    {"id": "dev-01",
     "turns": [["agent", "您好，北京12345。"], ["caller", "…"], [null, "speaker unknown"]],
     "labels": {"caller_name": "赵建国", "callback_phone": "13812345678", "district": "朝阳区",
                "street": ["梨园地区", "梨园镇"], "appeal_type": "投诉", "needs_callback": null}}

A label may be a list of acceptable values. Fields without a label are not scored; a null label
means "nothing should be filled" except for needs_callback and confidential, where null means
"not discussed" and is not scored. Names compare after removing honorifics (先生/女士/阿姨…)
unless the label itself has one.

Entity fields (name, phone, places, address) also get precision and recall: a wrong value that
was filled in costs an operator a wasted dispatch, an empty one only a question, so the two
are reported apart. Precision is right filled values over filled values (a value filled where
the label is null counts as filled and wrong); recall is right filled values over labels that
are not null.

The reliability table checks that the confidences mean what they say: for appeal_type, category,
urgency and the entity fields, the scored calls whose field has a confidence are put in bins of
confidence (``RELIABILITY_BINS``), each with its count and accuracy; the headline is how many
fields were given a confidence of at least 0.8 and how often those were right.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callscribe.errors import TranscriptInputError
from callscribe.schema import CaseFields, Segment, Transcript
from callscribe.summarize.names import strip_honorific

__all__ = [
    "ENTITY_FIELDS",
    "RELIABILITY_BINS",
    "RELIABILITY_FIELDS",
    "SCORED",
    "TUNING_SETS",
    "FieldScore",
    "LabelledCall",
    "evaluate",
    "field_report",
    "format_field_lines",
    "format_reliability_lines",
    "load_labelled",
    "reliability_report",
    "score_call",
    "transcript_from_turns",
]

# The labelled sets under fixtures/transcripts/ that the rules and the trained models may learn
# from, by name (fields-<name>.jsonl). Named, not globbed, so that a new blind set dropped next to
# them is never trained on or peeked at before its first look. G and H joined after theirs
# (docs/benchmarks.md gives their first-look figures).
TUNING_SETS = (
    "dev", "heldout", "heldout-b", "heldout-c", "heldout-d", "heldout-e", "heldout-f",
    "heldout-g", "heldout-h",
)  # fmt: skip

SCORED = (
    "caller_name", "callback_phone", "district", "street", "community", "address",
    "appeal_type", "category", "urgency", "needs_callback", "confidential",
)  # fmt: skip
ENTITY_FIELDS = ("caller_name", "callback_phone", "district", "street", "community", "address")
"""Fields scored with precision and recall as well as accuracy."""
RELIABILITY_FIELDS = ("appeal_type", "category", "urgency", *ENTITY_FIELDS)
"""Fields whose confidences the reliability table checks."""
RELIABILITY_BINS = ((0.0, 0.5), (0.5, 0.8), (0.8, 0.9), (0.9, 1.0))
"""Confidence bins, low end included, high end excluded (the last includes 1.0)."""
HIGH_CONFIDENCE = 0.8
_NULL_NOT_SCORED = ("needs_callback", "confidential")
_SECONDS_PER_TURN = 4.0


@dataclass
class LabelledCall:
    id: str
    transcript: Transcript
    labels: dict[str, Any]


@dataclass
class FieldScore:
    """One field's counts over the scored calls.

    Attributes:
        correct: calls whose value matches the label (an empty value matches a null label).
        total: calls with a scored label.
        filled: calls where the extractor filled a value (not None).
        filled_correct: filled values that match the label.
        labelled: calls whose label is not null.
    """

    correct: int = 0
    total: int = 0
    misses: list[tuple[str, Any, Any]] = field(default_factory=list)
    filled: int = 0
    filled_correct: int = 0
    labelled: int = 0
    confident: list[tuple[float, bool]] = field(default_factory=list)
    """(confidence, right) for each scored call where the field was given a confidence."""

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def precision(self) -> float | None:
        """Right filled values over filled values; None when nothing was filled."""
        return self.filled_correct / self.filled if self.filled else None

    @property
    def recall(self) -> float | None:
        """Right filled values over non-null labels; None when no label is non-null."""
        return self.filled_correct / self.labelled if self.labelled else None


def transcript_from_turns(turns: list[list[Any]]) -> Transcript:
    """Synthetic times (4 s a turn) so that evidence has times to show."""
    segments = []
    for i, (speaker, text) in enumerate(turns):
        if speaker not in ("agent", "caller", None):
            raise ValueError(f"speaker must be agent, caller or null, not {speaker!r}")
        start = i * _SECONDS_PER_TURN
        segments.append(Segment(start, start + _SECONDS_PER_TURN, str(text), speaker))
    return Transcript(duration=len(turns) * _SECONDS_PER_TURN, segments=segments)


def load_labelled(path: Path) -> list[LabelledCall]:
    """Read a labelled JSONL file.

    Raises:
        TranscriptInputError: a line is not JSON of the documented shape (names the line).
    """
    calls = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise TranscriptInputError(f"{path.name}: cannot be read: {err}") from err
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            calls.append(
                LabelledCall(
                    str(data["id"]), transcript_from_turns(data["turns"]), dict(data["labels"])
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise TranscriptInputError(f"{path.name}:{number}: not a labelled call: {err}") from err
    return calls


def _matches(name: str, expected: Any, got: Any) -> bool:
    options = expected if isinstance(expected, list) else [expected]
    for option in options:
        if name == "caller_name" and isinstance(option, str) and isinstance(got, str):
            bare = strip_honorific(option) == option
            if option == got or (bare and strip_honorific(got) == option):
                return True
        elif option == got:
            return True
    return False


def score_call(
    scores: dict[str, FieldScore], call_id: str, labels: dict[str, Any], fields: CaseFields
) -> None:
    """Add one call's extracted ``fields``, scored against its ``labels``, to ``scores``."""
    for name in SCORED:
        if name not in labels:
            continue
        expected = labels[name]
        if expected is None and name in _NULL_NOT_SCORED:
            continue
        score = scores.setdefault(name, FieldScore())
        score.total += 1
        got = getattr(fields, name)
        right = _matches(name, expected, got)
        if right:
            score.correct += 1
        else:
            score.misses.append((call_id, expected, got))
        if got is not None:
            score.filled += 1
            score.filled_correct += int(right)
        if expected is not None:
            score.labelled += 1
        if name in RELIABILITY_FIELDS and name in fields.confidence:
            score.confident.append((fields.confidence[name], right))


def evaluate(
    calls: list[LabelledCall], extract: Callable[[Transcript], CaseFields]
) -> tuple[dict[str, FieldScore], list[float]]:
    """Score ``extract`` on ``calls``; also returns each call's extraction time in ms."""
    scores: dict[str, FieldScore] = {}
    latencies = []
    for call in calls:
        started = time.perf_counter()
        fields = extract(call.transcript)
        latencies.append((time.perf_counter() - started) * 1e3)
        score_call(scores, call.id, call.labels, fields)
    return {name: scores[name] for name in SCORED if name in scores}, latencies


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def field_report(scores: dict[str, FieldScore]) -> dict[str, dict[str, Any]]:
    """JSON-ready per-field figures; entity fields add precision and recall with their counts."""
    out: dict[str, dict[str, Any]] = {}
    for name, s in scores.items():
        entry: dict[str, Any] = {
            "accuracy": round(s.accuracy, 4),
            "correct": s.correct,
            "total": s.total,
        }
        if name in ENTITY_FIELDS:
            entry.update(
                precision=_ratio(s.precision),
                recall=_ratio(s.recall),
                filled=s.filled,
                filled_correct=s.filled_correct,
                labelled=s.labelled,
            )
        entry["misses"] = [{"id": i, "expected": e, "got": g} for i, e, g in s.misses]
        out[name] = entry
    return out


def _bin_label(low: float, high: float) -> str:
    if low == 0.0:
        return f"<{high:g}"
    if high >= 1.0:
        return f">={low:g}"
    return f"{low:g}-{high:g}"


def _in_bin(confidence: float, low: float, high: float) -> bool:
    return low <= confidence < high or (high >= 1.0 and confidence >= low)


def reliability_report(scores: dict[str, FieldScore]) -> dict[str, Any]:
    """Per field, count and accuracy in each confidence bin; and the >= 0.8 headline."""
    fields: dict[str, list[dict[str, Any]]] = {}
    high = right = 0
    for name in RELIABILITY_FIELDS:
        if name not in scores or not scores[name].confident:
            continue
        pairs = scores[name].confident
        bins = []
        for low, top in RELIABILITY_BINS:
            inside = [ok for c, ok in pairs if _in_bin(c, low, top)]
            bins.append(
                {
                    "bin": _bin_label(low, top),
                    "count": len(inside),
                    "right": sum(inside),
                    "accuracy": _ratio(sum(inside) / len(inside)) if inside else None,
                }
            )
        fields[name] = bins
        high += sum(1 for c, _ in pairs if c >= HIGH_CONFIDENCE)
        right += sum(1 for c, ok in pairs if c >= HIGH_CONFIDENCE and ok)
    return {
        "fields": fields,
        "high_confidence": {
            "threshold": HIGH_CONFIDENCE,
            "count": high,
            "right": right,
            "accuracy": _ratio(right / high) if high else None,
        },
    }


def format_reliability_lines(reliability: dict[str, Any]) -> list[str]:
    """The reliability table of ``eval fields`` from :func:`reliability_report`'s figures."""
    bins = [_bin_label(low, high) for low, high in RELIABILITY_BINS]
    lines = [
        "  reliability (confidence bin: count, right)",
        "  " + " " * 16 + "".join(f"{b:>16}" for b in bins),
    ]
    for name, entries in reliability["fields"].items():
        cells = "".join(
            f"{e['count']:>9} {_percent(e['accuracy'])}" if e["count"] else f"{'-':>16}"
            for e in entries
        )
        lines.append(f"  {name:<16}{cells}")
    head = reliability["high_confidence"]
    lines.append(
        f"  fields at confidence >= {head['threshold']:g}: {head['count']}, "
        f"right {_percent(head['accuracy']).strip()}"
    )
    return lines


def report(scores: dict[str, FieldScore], latencies: list[float]) -> dict[str, Any]:
    """JSON-ready summary: per-field accuracy, reliability of confidences, latency."""
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2) if ordered else 0.0

    return {
        "calls": len(latencies),
        "fields": field_report(scores),
        "reliability": reliability_report(scores),
        "latency_ms": {
            "mean": round(sum(ordered) / len(ordered), 2) if ordered else 0.0,
            "p50": pct(0.5),
            "p95": pct(0.95),
            "max": round(ordered[-1], 2) if ordered else 0.0,
        },
    }


def _percent(value: float | None) -> str:
    return "     -" if value is None else f"{value:6.1%}"


def format_field_lines(fields: dict[str, dict[str, Any]], *, misses: bool = False) -> list[str]:
    """The per-field lines of ``eval fields`` from :func:`field_report`'s figures.

    Accuracy first, then precision and recall for the entity fields; ``misses`` adds each
    wrong value under its field.
    """
    lines = []
    for name, score in fields.items():
        line = f"  {name:<16} {score['accuracy']:7.1%}  ({score['correct']}/{score['total']})"
        if "precision" in score:
            line = (
                f"{line:<38} precision {_percent(score['precision'])} "
                f"({score['filled_correct']}/{score['filled']})"
                f"  recall {_percent(score['recall'])} "
                f"({score['filled_correct']}/{score['labelled']})"
            )
        lines.append(line)
        for miss in score["misses"] if misses else []:
            lines.append(f"      {miss['id']}: expected {miss['expected']!r}, got {miss['got']!r}")
    return lines
