"""Hide personal data from QA auditors who may not see it (the ``qa-redacted`` role).

What is hidden, each replaced by a fixed token whatever its length (so a mask never tells how
many digits a number had):

- ``[电话]`` phone numbers in every form the extractor reads (:mod:`callscribe.summarize.phone`):
  Arabic or full-width digits, digit words (一二三…, 幺, 两, 洞, 拐, 〇, and Whisper's 要 before a
  digit), mixed, in groups split by spaces, dashes, commas, brackets or fillers (嗯, 那个),
  with +86/86/0086 or an area code. Any such run of 7 or more digits counts, not only numbers
  that pass the extractor's checks: recall matters more than precision here.
- ``[证件号]`` identity card numbers: 15 or 18 digits shaped like one (area code, birth date,
  serial), or 17 digits and a final X.
- ``[门牌]`` house numbers: 3号楼2单元501室, 12号院, 501室, 5栋, 3-2-501, 朝阳路12号, and the
  number after 门牌号.
- ``[姓名]`` the names given: each as said, its surname with an honorific (赵先生, 赵女士…), and
  the surname after 姓 (我姓赵).

Kept: dates (2024年3月5日, 2024-03-05), amounts and quantities (300元, 1,200,000元, 25度), times
(8点), and short numbers (the 12345 hotline, a four-digit staff number).

The digit words, fillers, surnames and honorifics are the extractor's own rule files
(``callscribe/summarize/rules``), read on first use: importing :mod:`callscribe.summarize`
costs about 40 ms (it loads neither jieba nor jionlp), which the web app need not pay at start.
"""

from __future__ import annotations

import copy
import functools
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "HOUSE_TOKEN",
    "ID_TOKEN",
    "NAME_TOKEN",
    "PHONE_TOKEN",
    "case_names",
    "redact_case",
    "redact_text",
]

PHONE_TOKEN = "[电话]"
ID_TOKEN = "[证件号]"
HOUSE_TOKEN = "[门牌]"
NAME_TOKEN = "[姓名]"

_PRIORITY = {ID_TOKEN: 3, PHONE_TOKEN: 2, HOUSE_TOKEN: 1, NAME_TOKEN: 0}
_MIN_DIGITS = 7
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_BIRTH_DAY = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
_ID_SHAPE = re.compile(
    rf"[1-8][0-9]{{5}}(?:(?:19|20)[0-9]{{2}}{_BIRTH_DAY}[0-9]{{4}}|[0-9]{{2}}{_BIRTH_DAY}[0-9]{{3}})"
)
"""An identity number: area code, birth date, serial (and check digit in the 18-digit form).
Other runs of 15 or 18 digits are read as phone numbers (a number and its read-back)."""
_ID_CHECK = "Xx×Ｘｘ"
_EXTRA_SEPARATORS = "()（）[]【】+＋/／"
_PHONE_PREFIX = "+＋(（"
_BLANK = "\x01"
"""Stands in for a protected character while scanning for digits (never a digit or separator)."""

_PROTECTED = re.compile(
    r"(?<![0-9])[0-9]{4}[-/.年][0-9]{1,2}[-/.月][0-9]{1,2}(?![0-9])"
    r"|(?<![0-9])(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?\s*"
    r"(?=元|块|万|亿|角|毛|米|平|公里|公斤|斤|岁|%|％|度|次|天|年|月|日|点|小时|分钟|人|个)"
)
"""Dates and quantities: digits that are not part of a phone number."""

_NUMERAL = r"[0-9０-９零〇一二两三四五六七八九十百幺]+"
_UNIT = r"(?:号楼|号院|号|栋|幢|座|单元|层|楼|室|户|门)"
_HOUSE = re.compile(rf"(?:{_NUMERAL}\s*{_UNIT}[-－之]?\s*)+(?:{_NUMERAL}(?![0-9]))?")
_HOUSE_PART = re.compile(rf"{_NUMERAL}\s*{_UNIT}")
_STRONG_UNIT = re.compile(r"号楼|号院|栋|幢|单元|室")
_STREET_NUMBER = re.compile(rf"{_NUMERAL}号")
_ROAD_BEFORE = "路街巷道里条弄同村庄园"
_HOUSE_DASHED = re.compile(r"(?<![0-9-])[0-9]{1,3}-[0-9]{1,2}-[0-9]{2,4}(?![0-9-])")
_DOORPLATE = re.compile(rf"门牌(?:号码|号)?\s*(?:是|为|：|:)?\s*({_NUMERAL}号?)")

_CASE_FIELDS = ("fields", "machine_fields")


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    token: str


@dataclass(frozen=True)
class _Digits:
    strong: dict[str, str]
    weak: frozenset[str]
    separators: frozenset[str]
    fillers: tuple[str, ...]


@dataclass(frozen=True)
class _Names:
    compound: tuple[str, ...]
    honorifics: tuple[str, ...]


@functools.cache
def _digits() -> _Digits:
    from callscribe.summarize.rules import load_rules

    rules = load_rules("phone")
    return _Digits(
        strong={str(ch): str(d) for d, chars in rules["digits"].items() for ch in chars},
        weak=frozenset(
            str(ch) for chars in (rules.get("weak_digits") or {}).values() for ch in chars
        ),
        separators=frozenset(str(rules["separators"]) + _EXTRA_SEPARATORS),
        fillers=tuple(sorted((str(f) for f in rules["fillers"]), key=len, reverse=True)),
    )


@functools.cache
def _name_rules() -> _Names:
    from callscribe.summarize.rules import load_rules

    rules = load_rules("names")
    return _Names(
        compound=tuple(str(c) for c in rules["compound_surnames"]),
        honorifics=tuple(sorted((str(h) for h in rules["honorifics"]), key=len, reverse=True)),
    )


def redact_text(text: str, *, names: Iterable[str] = ()) -> str:
    """``text`` with phone numbers, ID numbers, house numbers and the given names masked."""
    return _apply(text, _spans(text, names))


def redact_case(detail: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a case view (:func:`callscribe.desk.presenters.case_view`) fit for
    ``qa-redacted`` auditors.

    The caller's name and callback number become tokens in the fields, the machine's fields
    and the history; the address keeps its streets but not its house numbers; every text
    (title, summary, evidence, transcript, notes, metadata) goes through :func:`redact_text`
    with the case's names; metadata's ``caller_number`` is masked whole; there is no audio.

    Segments are masked as one text, so a number said across two segments is found too.
    """
    out = copy.deepcopy(detail)
    names = case_names(detail)
    for key in _CASE_FIELDS:
        if isinstance(out.get(key), dict):
            out[key] = {k: _field_value(k, v, names) for k, v in out[key].items()}
    for key in ("title", "summary"):
        if isinstance(out.get(key), str):
            out[key] = redact_text(out[key], names=names)
    for field, items in (out.get("evidence") or {}).items():
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                item["text"] = _field_value(field, item["text"], names, whole=True)
    if isinstance(out.get("transcript"), dict):
        _redact_transcript(out["transcript"], names)
    out["metadata"] = _redact_metadata(out.get("metadata") or {}, names)
    out["audio_url"] = None
    for event in out.get("history") or []:
        for key in ("machine_value", "old_value", "new_value"):
            event[key] = _field_value(event.get("field"), event.get(key), names)
        if isinstance(event.get("note"), str):
            event["note"] = redact_text(event["note"], names=names)
    return out


def case_names(detail: dict[str, Any]) -> list[str]:
    """The caller's names a case view holds: its fields, the machine's, and earlier values."""
    found = [
        (detail.get(key) or {}).get("caller_name") for key in _CASE_FIELDS
    ] + [
        event.get(key)
        for event in detail.get("history") or []
        if event.get("field") == "caller_name"
        for key in ("machine_value", "old_value", "new_value")
    ]  # fmt: skip
    return list(dict.fromkeys(n for n in found if isinstance(n, str) and n.strip()))


def _field_value(field: Any, value: Any, names: list[str], *, whole: bool = False) -> Any:
    """One field's value (or, ``whole``, its evidence) as a redacted auditor sees it."""
    if value is None or value == "":
        return value
    if field == "callback_phone":
        return PHONE_TOKEN
    if field == "caller_name":
        return NAME_TOKEN if not whole else redact_text(str(value), names=names)
    if isinstance(value, str):
        return redact_text(value, names=names)
    return value


def _redact_transcript(transcript: dict[str, Any], names: list[str]) -> None:
    segments = [s for s in transcript.get("segments") or [] if isinstance(s, dict)]
    texts = [str(s.get("text") or "") for s in segments]
    joined = "".join(texts)
    spans = _spans(joined, names)
    start = 0
    for segment, text in zip(segments, texts, strict=True):
        end = start + len(text)
        if text:
            segment["text"] = _apply(
                text,
                [
                    _Span(max(s.start, start) - start, min(s.end, end) - start, s.token)
                    for s in spans
                    if s.start < end and s.end > start
                ],
            )
        start = end
    if isinstance(transcript.get("text"), str):
        same = transcript["text"] == joined
        transcript["text"] = _apply(joined, spans) if same else redact_text(joined, names=names)


def _redact_metadata(value: Any, names: list[str], key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _redact_metadata(v, names, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_metadata(v, names, key) for v in value]
    if key == "caller_number" and value not in (None, ""):
        return PHONE_TOKEN
    if isinstance(value, str):
        return redact_text(value, names=names)
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) >= 7:
        return PHONE_TOKEN
    return value


def _spans(text: str, names: Iterable[str]) -> list[_Span]:
    spans = [*_number_spans(text), *_house_spans(text), *_name_spans(text, names)]
    return _merged(spans)


def _apply(text: str, spans: list[_Span]) -> str:
    parts: list[str] = []
    cursor = 0
    for span in spans:
        parts.append(text[cursor : span.start])
        parts.append(span.token)
        cursor = span.end
    parts.append(text[cursor:])
    return "".join(parts)


def _merged(spans: list[_Span]) -> list[_Span]:
    """Overlapping spans as one, masked with the most telling of their tokens."""
    out: list[_Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out and span.start < out[-1].end:
            last = out[-1]
            token = max(last.token, span.token, key=_PRIORITY.__getitem__)
            out[-1] = _Span(last.start, max(last.end, span.end), token)
        else:
            out.append(span)
    return out


def _number_spans(text: str) -> list[_Span]:
    """Runs of 7+ digits joined across separators and fillers: phone or ID numbers."""
    rules = _digits()
    scan = _PROTECTED.sub(lambda m: _BLANK * len(m.group()), text)
    spans: list[_Span] = []
    for chain in _chains(scan, rules):
        count = sum(end - start for start, end in chain)
        start, end = chain[0][0], chain[-1][1]
        token = PHONE_TOKEN
        if count == 17 and end < len(text) and text[end] in _ID_CHECK:
            end, token = end + 1, ID_TOKEN
        elif count < _MIN_DIGITS:
            continue
        elif _is_id(scan, chain, rules):
            token = ID_TOKEN
        if start > 0 and text[start - 1] in _PHONE_PREFIX:
            start -= 1
        spans.append(_Span(start, end, token))
    return spans


def _groups(scan: str, rules: _Digits) -> list[tuple[int, int]]:
    """(start, end) of each run of digit characters."""
    groups: list[tuple[int, int]] = []
    start = -1
    for pos, ch in enumerate([*scan, _BLANK]):
        is_digit = ch in rules.strong or (
            ch in rules.weak and pos + 1 < len(scan) and scan[pos + 1] in rules.strong
        )
        if is_digit and start < 0:
            start = pos
        elif not is_digit and start >= 0:
            groups.append((start, pos))
            start = -1
    return groups


def _chains(scan: str, rules: _Digits) -> list[list[tuple[int, int]]]:
    """Digit groups joined into numbers.

    Groups join across separators; a filler (嗯, 那个) joins two groups only when both are
    at least two digits long, so 一是一 and the like stay words.
    """
    chains: list[list[tuple[int, int]]] = []
    for group in _groups(scan, rules):
        if chains:
            last = chains[-1][-1]
            gap = scan[last[1] : group[0]]
            short = last[1] - last[0] < 2 or group[1] - group[0] < 2
            if _joinable(gap, rules, fillers=not short):
                chains[-1].append(group)
                continue
        chains.append([group])
    return chains


def _joinable(gap: str, rules: _Digits, *, fillers: bool) -> bool:
    rest = "".join(ch for ch in gap if ch not in rules.separators)
    while rest and fillers:
        filler = next((f for f in rules.fillers if rest.startswith(f)), None)
        if filler is None:
            return False
        rest = rest[len(filler) :]
    return not rest


def _is_id(scan: str, chain: list[tuple[int, int]], rules: _Digits) -> bool:
    """Shaped like an identity number, and not a mobile number said with something before it
    (八零八零，一五六零一二零八零八零 is a corrected tail and the whole number)."""
    digits = _digit_text(scan, chain, rules)
    if not _ID_SHAPE.fullmatch(digits):
        return False
    ends = list(itertools.accumulate(end - start for start, end in chain))
    starts = [0, *ends[:-1]]
    return not any(_MOBILE.fullmatch(digits[a : a + 11]) and a + 11 in ends for a in starts)


def _digit_text(scan: str, chain: list[tuple[int, int]], rules: _Digits) -> str:
    return "".join(
        rules.strong.get(scan[i], "1") for start, end in chain for i in range(start, end)
    )


def _house_spans(text: str) -> list[_Span]:
    spans: list[_Span] = []
    for match in _HOUSE.finditer(text):
        found = match.group().rstrip()
        parts = _HOUSE_PART.findall(found)
        street_number = (
            match.start() > 0
            and text[match.start() - 1] in _ROAD_BEFORE
            and _STREET_NUMBER.fullmatch(found) is not None
        )
        if _STRONG_UNIT.search(found) or len(parts) > 1 or street_number:
            spans.append(_Span(match.start(), match.start() + len(found), HOUSE_TOKEN))
    spans += [_Span(m.start(), m.end(), HOUSE_TOKEN) for m in _HOUSE_DASHED.finditer(text)]
    spans += [_Span(m.start(1), m.end(1), HOUSE_TOKEN) for m in _DOORPLATE.finditer(text)]
    return spans


def _name_spans(text: str, names: Iterable[str]) -> list[_Span]:
    forms: set[str] = set()
    surnames: set[str] = set()
    for name in names:
        said, surname = _name_forms(name)
        forms |= said
        surnames |= surname
    if not forms and not surnames:
        return []
    alternatives = [re.escape(f) for f in sorted(forms, key=len, reverse=True)]
    alternatives += [f"(?<=姓){re.escape(s)}" for s in sorted(surnames, key=len, reverse=True)]
    pattern = re.compile("|".join(alternatives))
    return [_Span(m.start(), m.end(), NAME_TOKEN) for m in pattern.finditer(text)]


def _name_forms(name: str) -> tuple[set[str], set[str]]:
    """The forms of a name to mask, and its surname.

    The forms are the name as given and its surname with each honorific (赵建国 -> 赵先生,
    赵女士…). A bare surname (谢) is masked only after an honorific or after 姓 (我姓谢): alone
    it is too often a word (谢谢).
    """
    rules = _name_rules()
    name = name.strip()
    if not name:
        return set(), set()
    honorific = next((h for h in rules.honorifics if name.endswith(h) and len(name) > len(h)), "")
    base = name[: len(name) - len(honorific)]
    surname = next((c for c in rules.compound if base.startswith(c)), base[:1])
    forms = {surname + h for h in rules.honorifics}
    if len(name) >= 2:
        forms.add(name)
    return forms, {surname}
