"""The caller's name as a work order wants it.

赵建国 when a full name is given; 孙女士 / 钱先生 when a surname and the gender are known (the
caller's "女的", or the agent addressing "孙女士"); the bare surname 谢 otherwise; None when the
caller declines. What one turn says (cue words, the answer to 您贵姓, glosses) is read by
:mod:`callscribe.summarize.name_cues`, where jieba (HMM on) bounds a full name said without
punctuation ("我叫田芳电话呢"); this module weighs those readings across the call.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass

from callscribe.schema import Speaker
from callscribe.summarize.dialogue import Turn
from callscribe.summarize.name_cues import (
    asked_name,
    asks_name,
    name_rules,
    said_name,
    said_of_another,
    surname_at,
)
from callscribe.summarize.name_glosses import glossed_characters, respelt_by_glosses
from callscribe.summarize.name_sounds import (
    gloss_surname,
    heard_honorific,
    homophone_surname,
    sounds_alike,
)

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
            if any(not said_of_another(turn.text, m.start()) for m in re.finditer(word, turn.text)):
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
    if asked_name(turns, turn):
        return True
    # 我不想细说…你们要名字吗: a decline only when it is about the name (就不说名字了,
    # 名字就不留了), not any 不想说 in a turn that mentions a name.
    declines = "|".join(re.escape(d) for d in rules.declines)
    if any(("名字" in d or "姓名" in d) and d in turn.text for d in rules.declines):
        return True
    return bool(
        re.search(
            f"(?:名字|姓名).{{0,6}}(?:{declines})|(?:{declines}).{{0,3}}(?:名字|姓名)", turn.text
        )
    )


def find_caller_name(turns: list[Turn]) -> NameResult | None:
    """The caller's name (see :func:`_find_name`), checked against the glosses of the turn it
    came from (:func:`_checked`).

    Raw text without speakers is read as the dialogue it was (:func:`_raw_dialogue`), with the
    original turns as evidence and a lower confidence.
    """
    if not turns or any(t.speaker is not None for t in turns):
        found = _clearly_heard(_checked(_find_name(turns)))
        if not any(t.words for t in turns):
            return found
        return _heard_twice(found, _heard_again(turns), turns)
    pseudo, origin = _raw_dialogue(turns)
    found = _checked(_find_name(pseudo)) if len(pseudo) > len(turns) else None
    if found is not None:
        evidence = [origin[t.index] for t in found.turns]
    else:
        found = _checked(_find_name(turns))
        if found is None:
            return None
        evidence = found.turns
    unique = list({t.index: t for t in evidence}.values())
    return NameResult(found.name, unique, min(found.confidence, _RAW_CONFIDENCE))


_RAW_CONFIDENCE = 0.7
"""Raw text has no speakers to tell the caller's words from the agent's."""


_ANSWER_END = re.compile(r"电话|手机|联系|号码|方式|留个|[0-9零一幺二三四五六七八九]{3}")
"""Where the caller's answer to the name question ends in raw text: the agent asking for the
number, or the number itself."""
_ANSWER_MAX = 24


def _raw_dialogue(turns: list[Turn]) -> tuple[list[Turn], dict[int, Turn]]:
    """Raw text as a dialogue: each name question (您贵姓) as the agent's turn and what follows
    it, up to the number or the agent's next question, as the caller's answer, its pauses
    (spaces) read as commas. What comes before and after stays speakerless."""
    rules = name_rules()
    question = re.compile("|".join(re.escape(q) for q in rules.questions))
    pseudo: list[Turn] = []
    origin: dict[int, Turn] = {}

    def add(turn: Turn, speaker: Speaker | None, text: str) -> None:
        text = text.strip()
        if text:
            origin[len(pseudo)] = turn
            pseudo.append(Turn(len(pseudo), speaker, text, turn.start, turn.end))

    for turn in turns:
        text, done = turn.text, 0
        for match in question.finditer(text):
            if match.start() < done:
                continue
            end = match.end()
            while end < len(text) and text[end] in "呢啊呀？?，,":
                end += 1
            limit = min(len(text), end + _ANSWER_MAX)
            stops = [m.start() for m in (_ANSWER_END.search(text, end, limit),) if m]
            stops += [m.start() for m in (question.search(text, end, limit),) if m]
            answer_end = min(stops, default=limit)
            answer = re.sub(r"\s+", "，", text[end:answer_end].strip())
            if not answer:
                continue
            add(turn, None, text[done : match.start()])
            add(turn, "agent", text[match.start() : end])
            add(turn, "caller", answer)
            done = answer_end
        add(turn, None, text[done:])
    return pseudo, origin


def _checked(result: NameResult | None) -> NameResult | None:
    """The name as the glosses of its turns spell it. A surname gloss that spells another
    surname empties it (陈小红，立早章: no name, a low confidence, the turn as evidence), unless
    the two sound alike (张立强，立早张 -> 章立强: the gloss is what tells homophones apart);
    the given name is respelt by its characters' glosses (:func:`respelt_by_glosses`); a gloss
    that makes no sense of it leaves the name empty with a low confidence."""
    if result is None or not result.name:
        return result
    name = result.name
    for turn in result.turns:
        if not turn.from_caller:
            continue
        gloss = gloss_surname(turn.text)
        if gloss is not None and not name.startswith(gloss[0]):
            if len(gloss[0]) != 1 or not sounds_alike(name[0], gloss[0]):
                return NameResult(None, result.turns, _CONFLICT_CONFIDENCE)
            # 张立强，立早张: the gloss spells 章, which 张 sounds like: the gloss wins.
            name = gloss[0] + name[1:]
        if strip_honorific(name) == name:
            respelt = respelt_by_glosses(name, len(surname_at(name, 0) or name[:1]), turn.text)
            if respelt is None:
                return NameResult(None, result.turns, _UNSURE_CONFIDENCE)
            name = respelt
    if name != result.name:
        return NameResult(name, result.turns, min(result.confidence, 0.8))
    return result


_CONFLICT_CONFIDENCE = 0.2

UNSURE_WORD_PROBABILITY = 0.4
"""A given name with a character Whisper gave less than this probability is not filled. On the
44 voiced calls, four of the seven wrong full names had a given-name character under it (刘则顺
for 刘德顺 at 0.31) and none of the eleven right ones did (their lowest: 0.45)."""
_UNSURE_CONFIDENCE = 0.3


def _clearly_heard(result: NameResult | None) -> NameResult | None:
    """The name, or none when a character of its given name was heard with a low probability.

    A plausible wrong name costs more than an empty one (the operator asks again); the turn
    stays as evidence with a low confidence. Only the caller's turns with Whisper's words are
    looked at; typed text and transcripts without words pass as they are.
    """
    if result is None or not result.name or strip_honorific(result.name) != result.name:
        return result
    surname = surname_at(result.name, 0) or result.name[:1]
    given = result.name[len(surname) :]
    for turn in result.turns:
        if not turn.from_caller or not turn.words or surname not in turn.text:
            continue
        probabilities = _probabilities_after(turn, surname, given)
        if probabilities and min(probabilities) < UNSURE_WORD_PROBABILITY:
            return NameResult(None, result.turns, _UNSURE_CONFIDENCE)
        if probabilities:
            return result
    return result


def _heard_again(turns: list[Turn]) -> NameResult | None:
    """The name in the caller's answer as it was heard the second time (``Turn.name_rehearing``),
    checked as the transcript's is; its turns carry the second hearing as their text. None when
    the name came from a turn heard only once."""
    if not any(t.name_rehearing for t in turns):
        return None
    again = [
        dataclasses.replace(t, text=t.name_rehearing, words=()) if t.name_rehearing else t
        for t in turns
    ]
    found = _clearly_heard(_checked(_find_name(again)))
    if found is None or not any(t.name_rehearing for t in found.turns if t.from_caller):
        return None
    return found


def _heard_twice(
    first: NameResult | None, second: NameResult | None, turns: list[Turn]
) -> NameResult | None:
    """On a recorded call, a name only when it was heard twice.

    Whisper hears a surname as another one (周 as 中, 钱 as 姜) and one hearing of the caller's
    words cannot tell. A second hearing is the agent calling the caller by the surname (好的周
    女士; a homophone counts), or the caller's answer decoded again alone giving the same name.
    On the two voiced sets read for names (44 + 50 calls), names the agent's surname agreed with
    were right 12 times in 13, the others 10 times in 30. A full name whose given name no gloss
    spells is not filled even so: its characters are Whisper's guess at the sound (高贵兰 for
    高桂兰, 刘方 for 柳芳), right in about one of three such names on the voiced calls.

    Otherwise the name is left empty with a low confidence and the caller's turn as evidence.
    A name the transcript declined or argued against stays empty whatever the second hearing.
    """
    if first is not None and first.name is None:
        # Declined, or the transcript's own glosses or probabilities argued against the name
        # it heard: a second hearing does not overrule that.
        return first
    given = [t.index for r in (first, second) if r is not None for t in r.turns if t.from_caller]
    addressed, _ = _agent_addressed(turns, since=min(given) if given else None)
    for found, other in ((first, second), (second, first)):
        if found is None or not found.name or _unglossed_full_name(found):
            continue
        said_back = addressed is not None and sounds_alike(addressed[0], found.name[0])
        if said_back or (other is not None and other.name == found.name):
            if found is first:
                return found
            return NameResult(
                found.name, _original(found.turns, turns), min(found.confidence, HEARD_AGAIN)
            )
    heard = first or second
    if heard is None:
        return None
    return NameResult(None, _original(heard.turns, turns), UNCONFIRMED)


def _original(evidence: list[Turn], turns: list[Turn]) -> list[Turn]:
    """The transcript's own turns for ``evidence`` (which may carry a second hearing), once each."""
    return list({t.index: turns[t.index] for t in evidence}.values())


def _unglossed_full_name(result: NameResult) -> bool:
    name = result.name or ""
    if strip_honorific(name) != name:
        return False
    given = name[len(surname_at(name, 0) or name[:1]) :]
    return bool(given) and not any(
        glossed_characters(t.text) & set(given) for t in result.turns if t.from_caller
    )


HEARD_AGAIN = 0.75
"""A name found only in the second hearing of the caller's answer, heard twice."""

UNCONFIRMED = 0.3
"""The confidence of a name heard from the caller that the agent never said back."""


def _probabilities_after(turn: Turn, surname: str, given: str) -> list[float]:
    """The probability of the word carrying each character of ``given`` where it follows the
    surname in ``turn``'s words; empty when the turn's words do not spell the name there."""
    text = "".join(w.word for w in turn.words)
    start = text.find(surname + given)
    if start < 0:
        return []
    wanted = range(start + len(surname), start + len(surname) + len(given))
    out, at = [], 0
    for word in turn.words:
        span = range(at, at + len(word.word))
        if any(i in span for i in wanted):
            out.append(word.probability)
        at += len(word.word)
    return out


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
    spelt = _full_name_spelt(turns, surname)
    if spelt:
        # 我姓林，双木林，林静怡，安静的静…: a full name was given and not read; its surname
        # alone (林女士) is not the name the caller gave.
        return NameResult(None, source + spelt, _UNSURE_CONFIDENCE)
    gender, gender_turns = _gender_for(surname, turns)
    if gender is None:
        return NameResult(surname, source, 0.7)
    return NameResult(surname + gender, source + gender_turns, 0.85)


def _full_name_spelt(turns: list[Turn], surname: str) -> list[Turn]:
    """The caller's answer to the name question when it glosses two characters or more besides
    the surname (安静的静，心旷神怡的怡): the caller gave a full name."""
    return [
        turn
        for turn in turns
        if turn.from_caller
        and asked_name(turns, turn)
        and len(glossed_characters(turn.text) - {surname}) >= 2
    ]


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


def _agent_addressed(
    turns: list[Turn], *, since: int | None = None
) -> tuple[str | None, list[Turn]]:
    """The surname the agent calls the caller by (杨先生，电话多少？) once the name was asked,
    or, with ``since``, once the caller gave it in that turn (the question itself may be the
    words Whisper garbled: 您怎么成乎): what the agent heard is a second hearing."""
    asked = False
    for turn in turns:
        if turn.speaker != "agent":
            continue
        asked = asked or asks_name(turn.text) or (since is not None and turn.index > since)
        if not asked:
            continue
        for pos in range(len(turn.text)):
            surname = surname_at(turn.text, pos)
            if surname and heard_honorific(turn.text, pos + len(surname)):
                return surname, [turn]
    return None, []
