"""The caller's name as a work order wants it.

赵建国 when a full name is given; 孙女士 / 钱先生 when a surname and the gender are known (the
caller's "女的", or the agent addressing "孙女士"); the bare surname 谢 otherwise; None when the
caller declines. What one turn says (cue words, the answer to 您贵姓, glosses) is read by
:mod:`callscribe.summarize.name_cues`, where jieba (HMM on) bounds a full name said without
punctuation ("我叫田芳电话呢"); this module weighs those readings across the call.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from callscribe.summarize.dialogue import Turn
from callscribe.summarize.name_cues import asked_name, asks_name, name_rules, said_name, surname_at
from callscribe.summarize.name_sounds import gloss_surname, heard_honorific, homophone_surname

__all__ = ["NameResult", "find_caller_name", "strip_honorific"]

log = logging.getLogger(__name__)


@dataclass
class NameResult:
    """The name (None: declined), the turns it came from and a confidence."""

    name: str | None
    turns: list[Turn]
    confidence: float


def strip_honorific(name: str) -> str:
    """赵先生 -> 赵; 赵建国 stays."""
    for honorific in sorted(name_rules().honorifics, key=len, reverse=True):
        if name.endswith(honorific) and len(name) > len(honorific):
            return name[: -len(honorific)]
    return name


def _gender_for(surname: str, turns: list[Turn]) -> tuple[str | None, list[Turn]]:
    rules = name_rules()
    said = [t for t in turns if t.from_caller] + [
        t for t in turns if not t.from_caller and "还是" not in t.text
    ]
    for turn in said:
        for honorific, gender in rules.honorifics.items():
            if gender and surname + honorific in turn.text:
                return gender, [turn]
    for turn in said:
        heard = _heard_gender(surname, turn.text)
        if heard:
            return heard, [turn]
    for turn in turns:
        if not turn.from_caller:
            continue
        for word, gender in rules.gender_words.items():
            if word in turn.text:
                return gender, [turn]
        bare = turn.text.strip("，,。！!？? ")
        asked = turn.index > 0 and "还是" in turns[turn.index - 1].text
        if asked and bare in ("先生", "女士"):
            return bare, [turns[turn.index - 1], turn]
    return None, []


def _declined(turns: list[Turn], turn: Turn) -> bool:
    rules = name_rules()
    if not any(d in turn.text for d in rules.declines):
        return False
    if turn.speaker is None:
        return any(
            re.search(q + r"(?:(?!电话|号码).){0,12}(" + "|".join(rules.declines) + ")", turn.text)
            for q in rules.questions
        )
    return asked_name(turns, turn) or "名字" in turn.text or "姓名" in turn.text


def find_caller_name(turns: list[Turn]) -> NameResult | None:
    """The caller's name (see :func:`_find_name`), unless a surname gloss in the turn it came
    from spells another surname (张李强，李早张: 立早章): then no name, a low confidence, and
    that turn as evidence for the operator."""
    result = _find_name(turns)
    if result is None or not result.name:
        return result
    for turn in result.turns:
        if not turn.from_caller:
            continue
        gloss = gloss_surname(turn.text)
        if gloss is not None and not result.name.startswith(gloss[0]):
            return NameResult(None, result.turns, _CONFLICT_CONFIDENCE)
    return result


_CONFLICT_CONFIDENCE = 0.2


def _find_name(turns: list[Turn]) -> NameResult | None:
    """The caller's name, None-valued when they declined, or None when the call never says.

    A name the caller gives as their own (我叫…, the answer to 您贵姓) wins; one that only
    follows a bare 叫 (包工头…叫孟庆林) may be someone else's and is kept only as a fallback.
    """
    surname: str | None = None
    strong = False
    weak_full: NameResult | None = None
    source: list[Turn] = []
    for turn in turns:
        if not turn.from_caller:
            continue
        if _declined(turns, turn):
            return NameResult(None, [turn], 0.8)
        full, said_surname, said_strongly = said_name(turns, turn)
        if full and said_strongly:
            return NameResult(full, [turn], 0.85 if turn.speaker else 0.7)
        if full and weak_full is None:
            weak_full = NameResult(full, [turn], 0.6)
        if said_surname and (surname is None or (said_strongly and not strong)):
            surname, source, strong = said_surname, [turn], said_strongly
    if weak_full is not None and not strong:
        return weak_full
    if surname is None:
        surname, source = _agent_addressed(turns)
    if surname is None:
        return None
    gender, gender_turns = _gender_for(surname, turns)
    if gender is None:
        return NameResult(surname, source, 0.7)
    return NameResult(surname + gender, source + gender_turns, 0.85)


def _heard_gender(surname: str, text: str) -> str | None:
    """孙女师, 前先生: the surname (or a character that sounds like it) and a heard honorific."""
    if len(surname) != 1:
        return None
    for pos, ch in enumerate(text):
        if ch == surname or homophone_surname(ch) == surname:
            honorific = heard_honorific(text, pos + 1)
            if honorific:
                return honorific
    return None


def _agent_addressed(turns: list[Turn]) -> tuple[str | None, list[Turn]]:
    """The surname the agent calls the caller by (杨先生，电话多少？) once the name was asked:
    what the agent heard is a second hearing when the caller's own words were garbled."""
    asked = False
    for turn in turns:
        if turn.speaker != "agent":
            continue
        asked = asked or asks_name(turn.text)
        if not asked:
            continue
        for pos in range(len(turn.text)):
            surname = surname_at(turn.text, pos)
            if surname and heard_honorific(turn.text, pos + len(surname)):
                return surname, [turn]
    return None, []
