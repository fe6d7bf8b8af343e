"""Two hearings of one callback number: the caller saying it and the agent reading it back.

Whisper drops a digit of a repeated run (一三九一一一二二三三三 heard as 一三九一二三三三) and,
less often, garbles a digit in either party's words. The agent's read-back is a second hearing
of the same number, made on the other channel, and the caller's 对 after it confirms what the
agent said. A number is filled only when the two hearings agree, one being the other with runs
of a repeated digit shortened (a collapse: Whisper drops, it does not invent a run), or when the
caller confirmed a read-back that no hearing of the caller contradicts. A confirmed read-back
also settles it when it is the caller's complete number less one digit (a dropped digit that is
no repeat), when the caller's 对 repeats its last digits over the caller's own slip (对，四四九零),
or when it carries only part of the 010 area code (零八二七幺五三九六). Where the hearings
disagree nothing is filled: the evidence of both goes to the operator with a low confidence.
No digit string is ever cut or padded to make it fit.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from callscribe.summarize.dialogue import Turn

__all__ = [
    "Hearing",
    "ReadBack",
    "Verdict",
    "collapses_to",
    "local_digits",
    "one_dropped",
    "settle",
]

CONFLICT_CONFIDENCE = 0.2
"""The hearings disagree: nothing is filled, the operator sees both."""


@dataclass(frozen=True)
class Hearing:
    """A run of digits said in one turn; ``number`` is the callback number it reads as, if any."""

    digits: str
    number: str | None
    turn: Turn
    again: bool = False
    """From the turn's second hearing (``Turn.rehearing``), not from its transcript text."""


@dataclass(frozen=True)
class ReadBack:
    """The agent saying a number, and what the caller answered right after."""

    hearing: Hearing
    answer: Turn | None
    confirmed: bool
    denied: bool
    answer_digits: tuple[str, ...] = ()
    """The runs of digits in the answer (对，四四九零 -> "4490"), read by the phone grammar."""


@dataclass(frozen=True)
class Verdict:
    """The number both hearings support (None: they disagree), with its evidence."""

    number: str | None
    turns: list[Turn]
    confidence: float
    confirmed: bool = False


def _runs(digits: str) -> list[tuple[str, int]]:
    return [(d, len(list(g))) for d, g in itertools.groupby(digits)]


def collapses_to(full: str, heard: str) -> bool:
    """``heard`` is ``full`` with some runs of a repeated digit shortened (or ``full`` itself).

    13911122333 -> 1391233 and 139112333 are collapses; 1391122333 -> 13911122333 is not
    (a run cannot grow), nor is 1392233 (a digit changed).
    """
    whole, said = _runs(full), _runs(heard)
    if len(whole) != len(said):
        return False
    return all(d == e and 1 <= m <= n for (d, n), (e, m) in zip(whole, said, strict=True))


def _kind(digits: str) -> str:
    return "mobile" if digits.startswith("1") else "landline"


_AREA_CODE = "010"
_AREA_PARTS = ("0", "01", "10")
"""What Whisper leaves of 零幺零 when it garbles a syllable (银销零八二七幺…: 0 + the landline)."""


def local_digits(digits: str) -> str:
    """The digits without Beijing's 010 prefix, as the stored number has them: the whole prefix
    before a number of any length, a part of it only before exactly 8 landline digits."""
    if digits.startswith(_AREA_CODE) and len(digits) > 9:
        return digits[3:]
    for part in _AREA_PARTS:
        rest = digits[len(part) :]
        if digits.startswith(part) and len(rest) == 8 and rest[0] in "23456789":
            return rest
    return digits


def one_dropped(full: str, heard: str) -> bool:
    """``heard`` is ``full`` with exactly one digit left out (13326084419 -> 1336084419)."""
    if len(heard) != len(full) - 1:
        return False
    return any(full[:k] + full[k + 1 :] == heard for k in range(len(full)))


def _tail_repeated(read_back: ReadBack, number: str, rival: str) -> bool:
    """The caller's 对 repeats the read-back's last digits (对，四四九零), which the rival hearing
    does not end with: the caller confirms the read-back over their own earlier words."""
    for digits in read_back.answer_digits:
        if 3 <= len(digits) < len(number) and number.endswith(digits):
            return not rival.endswith(digits)
    return False


def _supports(hearing: Hearing, number: str) -> bool:
    """A hearing supports ``number`` when it is the number or its collapse. A hearing that only
    lost other digits is not enough: on the calls measured, such pairs were as often two
    wrong hearings as one right one."""
    if hearing.number is not None:
        return hearing.number == number
    return collapses_to(number, local_digits(hearing.digits))


def _part_of(digits: str, hearing: Hearing) -> bool:
    """``digits`` are a piece of the longer run the caller was heard saying: a read-back of
    eight digits inside the caller's twelve (i4-011: 1391,1638,05013 read back as 91163805) is
    a number heard short, not a landline."""
    mine, theirs = local_digits(digits), local_digits(hearing.digits)
    return len(theirs) > len(mine) and mine in theirs


def _with_answer(turns: list[Turn], read_back: ReadBack) -> list[Turn]:
    return [*turns, read_back.answer] if read_back.answer is not None else turns


def _settle_one(said: list[Hearing], read_back: ReadBack) -> Verdict | None:
    agent = read_back.hearing
    confirmed = read_back.confirmed
    same_kind = [
        h for h in said if _kind(local_digits(h.digits)) == _kind(local_digits(agent.digits))
    ]
    if agent.number is not None:
        support = [h for h in said if _supports(h, agent.number)]
        if support:
            turns = _with_answer([*(h.turn for h in support), agent.turn], read_back)
            return Verdict(agent.number, turns, 0.97 if confirmed else 0.9, confirmed=confirmed)
        rival = next((h for h in reversed(same_kind) if h.number is not None), None)
        if rival is not None and rival.number and confirmed:
            if _tail_repeated(read_back, agent.number, rival.number):
                turns = _with_answer([rival.turn, agent.turn], read_back)
                return Verdict(agent.number, turns, 0.85, confirmed=True)
        if rival is not None:
            turns = _with_answer([rival.turn, agent.turn], read_back)
            return Verdict(None, turns, CONFLICT_CONFIDENCE)
        longer = [h for h in said if _part_of(agent.digits, h)]
        if longer:
            turns = _with_answer([longer[-1].turn, agent.turn], read_back)
            return Verdict(None, turns, CONFLICT_CONFIDENCE)
        if confirmed:
            heard = [h.turn for h in same_kind[-1:]]
            return Verdict(agent.number, _with_answer([*heard, agent.turn], read_back), 0.85, True)
        return None
    support = [h for h in said if h.number is not None and _supports(agent, h.number)]
    if len({h.number for h in support}) == 1:
        turns = _with_answer([*(h.turn for h in support), agent.turn], read_back)
        return Verdict(support[-1].number, turns, 0.95 if confirmed else 0.88, confirmed=confirmed)
    if confirmed:
        # The read-back lost one digit that is no repeat (一五八二六零三… read back 一五八六零三…)
        # and the caller said 对 to what the agent really said: the caller's complete number,
        # when it is the only one the read-back is a hearing of.
        lost = {
            h.number for h in said if h.number and one_dropped(h.number, local_digits(agent.digits))
        }
        if len(lost) == 1:
            number = lost.pop()
            support = [h for h in said if h.number == number]
            turns = _with_answer([support[-1].turn, agent.turn], read_back)
            return Verdict(number, turns, 0.85, confirmed=True)
    if same_kind:
        turns = _with_answer([same_kind[-1].turn, agent.turn], read_back)
        return Verdict(None, turns, CONFLICT_CONFIDENCE)
    return None


def settle(said: list[Hearing], read_backs: list[ReadBack]) -> Verdict | None:
    """The number the last read-back the caller did not deny settles, if any.

    A read-back turn heard twice (its transcript and its second hearing) settles what either
    hearing settles; where one settles a number and the other a different one, neither does.

    Args:
        said: the caller's hearings, in call order.
        read_backs: the agent's, in call order.
    """
    for _, group in itertools.groupby(reversed(read_backs), key=lambda r: r.hearing.turn.index):
        kept = [r for r in group if not r.denied]
        first = _first_verdict(said, [r for r in kept if not r.hearing.again])
        again = _first_verdict(said, [r for r in kept if r.hearing.again])
        verdict = _combined(first, again)
        if verdict is not None:
            return verdict
    return None


def _first_verdict(said: list[Hearing], read_backs: list[ReadBack]) -> Verdict | None:
    for read_back in read_backs:
        before = [h for h in said if h.turn.index < read_back.hearing.turn.index]
        verdict = _settle_one(before, read_back)
        if verdict is not None:
            return verdict
    return None


def _combined(first: Verdict | None, again: Verdict | None) -> Verdict | None:
    if first is None or again is None:
        return first or again
    if first.number is None or again.number is None or first.number == again.number:
        return first if first.number is not None or again.number is None else again
    turns = list({t.index: t for t in [*first.turns, *again.turns]}.values())
    return Verdict(None, sorted(turns, key=lambda t: t.index), CONFLICT_CONFIDENCE)
