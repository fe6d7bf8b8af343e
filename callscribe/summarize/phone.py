"""A narrow grammar for callback numbers as callers say them.

Digit words (一三八, 幺, 洞, 拐) or Arabic digits form groups; groups separated only by spaces,
punctuation or fillers (嗯, 那个) join into one number. A number is an 11-digit mobile
(1[3-9]…) or an 8-digit Beijing landline, optionally after 010. Runs of digit words inside
ordinary words (一直, 五道口, 十四五度) are too short to count. Converting the whole text with
cn2an is avoided on purpose: it rewrites such words.

Which number wins: the agent's read-back that the caller confirmed ("对"), else the caller's
last number, where a number after a correction cue ("不对，是…") replaces the earlier one and a
short corrected tail ("最后是三四三四") patches the earlier number's last digits.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass, field

from callscribe.summarize.dialogue import Turn
from callscribe.summarize.readback import (
    CONFLICT_CONFIDENCE,
    Hearing,
    ReadBack,
    collapses_to,
    local_digits,
    one_dropped,
    settle,
)
from callscribe.summarize.rules import load_rules

__all__ = ["PhoneResult", "find_callback_phone", "spoken_numbers"]

_MOBILE = re.compile(r"1[3-9]\d{9}")
_DASHES = ("-", "—", "－")
_WORD_DIGITS = "一两"
"""Digit words that also begin ordinary words (一直, 两天): a mobile number running into one
(一三八一二三四五六七八一直打不通) ends before it; any other extra digit rejects the number."""
_ANSWER_CHARS = "对吗吧呢啊是嘛"
_MIN_HEARING = 7
"""Fewer digits than this are no hearing of a callback number (a house number, a price)."""


@dataclass(frozen=True)
class _Grammar:
    digit_of: dict[str, str]
    weak_digit_of: dict[str, str]
    fillers: tuple[str, ...]
    separators: str
    min_group: int
    corrections: tuple[str, ...]
    confirmations: tuple[str, ...]
    denials: tuple[str, ...]
    cues: tuple[str, ...]


@functools.cache
def _grammar() -> _Grammar:
    rules = load_rules("phone")
    digit_of = {str(ch): str(d) for d, chars in rules["digits"].items() for ch in chars}
    return _Grammar(
        digit_of=digit_of,
        weak_digit_of={
            str(ch): str(d) for d, chars in (rules.get("weak_digits") or {}).items() for ch in chars
        },
        fillers=tuple(sorted(rules["fillers"], key=len, reverse=True)),
        separators=str(rules["separators"]),
        min_group=int(rules["min_group"]),
        corrections=tuple(rules["corrections"]),
        confirmations=tuple(rules["confirmations"]),
        denials=tuple(rules["denials"]),
        cues=tuple(rules["phone_cues"]),
    )


@dataclass(frozen=True)
class _Group:
    digits: str
    start: int
    end: int


@dataclass(frozen=True)
class SpokenNumber:
    """A callback-shaped number found in one text, with its character span."""

    digits: str
    start: int
    end: int
    trimmed: bool = False


@dataclass
class PhoneResult:
    """The chosen callback number (None: the hearings disagree) and why."""

    number: str | None
    turns: list[Turn]
    confidence: float
    confirmed: bool = False
    candidates: list[str] = field(default_factory=list)


def _groups(text: str, grammar: _Grammar) -> list[_Group]:
    groups: list[_Group] = []
    start = -1
    digits: list[str] = []
    for pos, ch in enumerate([*text, "\0"]):
        digit = grammar.digit_of.get(ch)
        if digit is None and ch in grammar.weak_digit_of:
            after = pos + 1
            while after < len(text) and text[after] in grammar.weak_digit_of:
                after += 1
            if after < len(text) and text[after] in grammar.digit_of:
                digit = grammar.weak_digit_of[ch]
        if digit is not None:
            if start < 0:
                start = pos
            digits.append(digit)
            continue
        if start >= 0:
            groups.append(_Group("".join(digits), start, pos))
            start, digits = -1, []
    return groups


def _joinable(gap: str, grammar: _Grammar) -> bool:
    rest = "".join(ch for ch in gap if ch not in grammar.separators)
    while rest:
        for filler in grammar.fillers:
            if rest.startswith(filler):
                rest = rest[len(filler) :]
                break
        else:
            return False
    return True


def _valid(digits: str) -> str | None:
    if len(digits) == 11 and _MOBILE.fullmatch(digits):
        return digits
    if len(digits) == 11 and digits.startswith("010") and digits[3] in "23456789":
        return digits[3:]
    if len(digits) == 8 and digits[0] in "23456789":
        return digits
    return None


def _numbers_in_chain(chain: list[_Group], text: str) -> list[SpokenNumber]:
    """The numbers in one chain of joined digit groups.

    A number ends where a group ends when it can. A run of two numbers said without a pause (a
    caller's number and the agent's read-back, as raw Whisper text has them:
    一三九一一零二七七五八一三九…) is read as both. A mobile number running into an ordinary word
    (…六七八一直打不通) is cut before the word and marked ``trimmed``; any other run longer than
    a number (a 12-digit read-back) is no number at all: never cut to fit.
    """
    digits = "".join(g.digits for g in chain)
    where = [g.start + k for g in chain for k in range(len(g.digits))]
    bounds = list(itertools.accumulate(len(g.digits) for g in chain))
    found: list[SpokenNumber] = []
    i = 0
    while i < len(digits):
        best: tuple[int, str] | None = None
        for end in bounds:
            if i < end <= i + 11:
                value = _valid(digits[i:end])
                if value is not None:
                    best = (end, value)
        trimmed = False
        if best is None and _MOBILE.match(digits, i) and i + 11 < len(digits):
            if len(digits) - (i + 11) >= _MIN_HEARING:
                best = (i + 11, digits[i : i + 11])
            elif _runs_into_word(text, where[i + 11], chain[-1].end):
                best, trimmed = (i + 11, digits[i : i + 11]), True
        landline = digits[i : i + 8]
        if best is None and _valid(landline) and digits[i + 8 : i + 16] == landline:
            best = (i + 8, landline)
        if best is None:
            i = next((b for b in bounds if b > i), len(digits))
            continue
        end, value = best
        if not trimmed and 0 < len(digits) - end < _MIN_HEARING:
            break
        found.append(SpokenNumber(value, where[i], where[end - 1] + 1, trimmed=trimmed))
        i = end
    return found


def _runs_into_word(text: str, extra: int, chain_end: int) -> bool:
    """The digits from ``extra`` to the chain's end begin an ordinary word (一直, 两天)."""
    tail = text[extra:chain_end]
    after = text[chain_end : chain_end + 1]
    return (
        0 < len(tail) <= 2
        and all(ch in _WORD_DIGITS for ch in tail)
        and "\u4e00" <= after <= "\u9fff"
        and after not in _ANSWER_CHARS
    )


def _chains(text: str, grammar: _Grammar) -> list[list[_Group]]:
    chains: list[list[_Group]] = []
    for group in _groups(text, grammar):
        gap = text[chains[-1][-1].end : group.start] if chains and chains[-1] else ""
        after = text[group.end : group.end + 2]
        dashed = text[group.start : group.end].isascii() and (
            bool(chains and chains[-1] and gap.strip() in _DASHES)
            or (after[:1] in _DASHES and after[1:].isdigit())
        )
        if len(group.digits) < grammar.min_group and not dashed:
            chains.append([])
            continue
        if chains and chains[-1] and _joinable(gap, grammar):
            chains[-1].append(group)
        else:
            chains.append([group])
    return [c for c in chains if c]


def spoken_numbers(text: str) -> list[SpokenNumber]:
    """Every callback-shaped number said in ``text``, in order."""
    grammar = _grammar()
    return [n for chain in _chains(text, grammar) for n in _numbers_in_chain(chain, text)]


def _short_runs(text: str) -> list[tuple[str, int]]:
    """Digit runs of 3-7 digits (a corrected tail), with their start offsets."""
    grammar = _grammar()
    runs = []
    for chain in _chains(text, grammar):
        digits = "".join(g.digits for g in chain)
        if 3 <= len(digits) <= 7:
            runs.append((digits, chain[0].start))
    return runs


@dataclass
class _Candidate:
    digits: str
    turn: Turn
    corrected: bool = False
    trimmed: bool = False


def _candidates(turns: list[Turn]) -> list[_Candidate]:
    grammar = _grammar()
    out: list[_Candidate] = []
    for turn in turns:
        numbers = spoken_numbers(turn.text)
        previous_end = 0
        for number in numbers:
            before = turn.text[previous_end : number.start]
            corrected = any(cue in before for cue in grammar.corrections)
            out.append(_Candidate(number.digits, turn, corrected, number.trimmed))
            previous_end = number.end
        if not turn.from_caller:
            continue
        last = next((c for c in reversed(out) if c.turn.from_caller), None)
        for digits, start in _short_runs(turn.text):
            if start < previous_end:
                continue
            said_before = turn.text[previous_end:start]
            if last is not None and any(cue in said_before for cue in grammar.corrections):
                patched = last.digits[: -len(digits)] + digits
                out.append(_Candidate(patched, turn, corrected=True))
    return out


def _answer(turns: list[Turn], after: Turn) -> Turn | None:
    """The caller's turn right after ``after`` (skipping nothing but empty turns)."""
    for turn in turns[after.index + 1 :]:
        if not turn.text:
            continue
        return turn if turn.speaker == "caller" else None
    return None


def _head(turn: Turn) -> str:
    return turn.text.lstrip("，,。 嗯啊哦")


def _denies(turn: Turn | None, grammar: _Grammar) -> bool:
    return turn is not None and _head(turn).startswith(grammar.denials)


def _confirms(turn: Turn | None, grammar: _Grammar) -> bool:
    if turn is None or _denies(turn, grammar):
        return False
    head = _head(turn)
    return head.startswith(grammar.confirmations) or not head


def _has_cue(turns: list[Turn], turn: Turn, grammar: _Grammar) -> bool:
    nearby = [turn] + ([turns[turn.index - 1]] if turn.index > 0 else [])
    return any(cue in t.text for t in nearby for cue in grammar.cues)


def _hearings(turn: Turn, *, again: bool = False) -> list[Hearing]:
    """Every run of digits in ``turn`` long enough to be a callback number, valid or not; with
    ``again``, those of the turn's second hearing (``Turn.rehearing``)."""
    grammar = _grammar()
    text = turn.rehearing if again else turn.text
    out: list[Hearing] = []
    for chain in _chains(text, grammar):
        numbers = _numbers_in_chain(chain, text)
        out.extend(Hearing(n.digits, n.digits, turn, again) for n in numbers)
        digits = "".join(g.digits for g in chain)
        if not numbers and len(digits) >= _MIN_HEARING:
            out.append(Hearing(digits, None, turn, again))
    return out


def _two_party(turns: list[Turn], candidates: list[_Candidate]) -> PhoneResult | None:
    """Both parties' hearings of the number, aligned (:mod:`callscribe.summarize.readback`)."""
    grammar = _grammar()
    distinct = list(dict.fromkeys(c.digits for c in candidates))
    said: list[Hearing] = []
    read_backs: list[ReadBack] = []
    for turn in turns:
        heard = _hearings(turn) + _hearings(turn, again=True)
        if turn.from_caller:
            said.extend(Hearing(c.digits, c.digits, turn) for c in candidates if c.turn is turn)
            said.extend(h for h in heard if h.number is None or h.again)
            continue
        answer = _answer(turns, turn)
        confirmed = answer is not None and _confirms(answer, grammar)
        denied = _denies(answer, grammar)
        answer_digits = tuple(
            "".join(g.digits for g in chain)
            for chain in (_chains(answer.text, grammar) if answer is not None else [])
        )
        read_backs.extend(ReadBack(h, answer, confirmed, denied, answer_digits) for h in heard)
    verdict = settle(said, read_backs)
    if verdict is not None:
        return PhoneResult(
            verdict.number, verdict.turns, verdict.confidence, verdict.confirmed, distinct
        )
    from_caller = [c for c in candidates if c.turn.from_caller]
    if from_caller:
        chosen = from_caller[-1]
        if not chosen.corrected and _heard_otherwise(chosen.digits, said, chosen.turn):
            return PhoneResult(None, [chosen.turn], CONFLICT_CONFIDENCE, candidates=distinct)
        return _callers_last(turns, from_caller, distinct)
    restored = _restored_by_second_hearing(said)
    if restored is not None:
        return restored
    evidence = [h.turn for h in said] + [r.hearing.turn for r in read_backs]
    if not evidence:
        return None
    return PhoneResult(None, evidence, CONFLICT_CONFIDENCE, candidates=distinct)


def _heard_otherwise(digits: str, said: list[Hearing], turn: Turn) -> bool:
    """The second hearing of the caller's turn gives other digits than ``digits``: another
    valid number, or a run that is neither ``digits`` less a digit nor ``digits`` with one
    more (一三八一一零二五五六零 heard as B3-1-1-0-5-5-6-0, then as 三八一零二五五六零: two
    hearings, two numbers, neither filled)."""
    again = [h for h in said if h.again and h.turn is turn]
    if any(h.number is not None and h.number == digits for h in again):
        return False
    for heard in again:
        if heard.number is not None:
            return True
        other = local_digits(heard.digits)
        if other != local_digits(digits) and not (
            _lost_a_digit(digits, other) or _lost_a_digit(other, local_digits(digits))
        ):
            return True
    return False


RESTORED_CONFIDENCE = 0.8
"""The caller's number, heard whole only the second time, the first hearing less one digit."""


def _lost_a_digit(number: str, heard: str) -> bool:
    return collapses_to(number, heard) or one_dropped(number, heard)


def _restored_by_second_hearing(said: list[Hearing]) -> PhoneResult | None:
    """The caller said a number no one settled, and the transcript lost a digit of it: the
    second hearing of the same turn, whole, is the number when the transcript's digits are it
    with a repeated run shortened (一三七一六五二… for 一三七一六六五二…) or one digit left out.

    Measured on the three voiced sets (134 calls): each of the 18 turns this fills was right
    (5 shortened runs, 13 dropped digits). Only one such number may exist.
    """
    found: dict[str, list[Turn]] = {}
    for heard in said:
        if not heard.again or heard.number is None:
            continue
        first = [h for h in said if h.turn is heard.turn and not h.again and h.number is None]
        if any(_lost_a_digit(heard.number, local_digits(h.digits)) for h in first):
            found.setdefault(heard.number, []).append(heard.turn)
    if len(found) != 1:
        return None
    ((number, evidence),) = found.items()
    return PhoneResult(number, evidence, RESTORED_CONFIDENCE, candidates=[number])


def _callers_last(
    turns: list[Turn], from_caller: list[_Candidate], distinct: list[str]
) -> PhoneResult:
    """No read-back settles it: the caller's last number, a correction replacing earlier ones."""
    chosen = from_caller[-1]
    confidence = 0.9 if _has_cue(turns, chosen.turn, _grammar()) else 0.75
    if chosen.corrected:
        confidence -= 0.05
    if chosen.trimmed:
        confidence = 0.6
    if len({c.digits for c in from_caller}) > 1 and not chosen.corrected:
        confidence -= 0.15
    return PhoneResult(chosen.digits, [chosen.turn], confidence, candidates=distinct)


def find_callback_phone(turns: list[Turn]) -> PhoneResult | None:
    """Choose the callback number said in the call, or None when no number was said at all.

    With both parties known, the caller's hearing and the agent's read-back must agree (or the
    caller confirm the read-back); where they disagree the result has no number, a low
    confidence and both hearings as evidence. Raw single-stream text has no parties to align:
    the last number said, a correction replacing earlier ones.
    """
    if any(t.speaker is not None for t in turns):
        return _two_party(turns, _candidates(turns))
    candidates = _candidates(turns)
    if not candidates:
        return None
    return _callers_last(turns, candidates, list(dict.fromkeys(c.digits for c in candidates)))
