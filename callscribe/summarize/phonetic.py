"""How Chinese text sounds, for matching place names that speech recognition misheard.

Whisper often writes a place name with other characters of the same sound (海电区 for 海淀区,
秘云驱 for 密云区) or one sound off (是一区 for 顺义区). Comparing pinyin without tones, with the
sounds Mandarin speakers and recognisers confuse folded together, sees through both.

Every function here is pure: syllables of a text, a normalised key per syllable, and a graded
distance between syllable sequences. Readings come from pypinyin one character at a time
(cached), so a call's text costs a dictionary look-up per character; :func:`keys_of` gives a
gazetteer name the few readings it may have been said with.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from pypinyin import Style, lazy_pinyin, pinyin

__all__ = [
    "FOLDED_FINALS",
    "FOLDED_INITIALS",
    "NEAR_FINALS",
    "NEAR_INITIALS",
    "PLACE_READINGS",
    "distance",
    "keys_of",
    "normalise",
    "readings",
    "split",
    "syllable_cost",
    "syllables",
]

# Pairs that are one sound for matching (cost 0), the confusions of Mandarin ASR and of
# speakers from the south: retroflex vs dental sibilants, n/l, and the velar vs alveolar nasal
# codas. Keys fold the first of each pair into the second.
FOLDED_INITIALS = {"zh": "z", "ch": "c", "sh": "s", "n": "l"}
FOLDED_FINALS = {"eng": "en", "ing": "in", "ang": "an", "iang": "ian", "uang": "uan"}

# Pairs that are close but not the same (cost 0.25 instead of 0.5 for their half of a
# syllable): f/h (湖/福 in southern accents, and on band-limited telephone audio), l/r, and
# the rounded finals o/uo and e/o that recognisers swap.
NEAR_INITIALS = frozenset({frozenset({"f", "h"}), frozenset({"l", "r"})})
NEAR_FINALS = frozenset({frozenset({"o", "uo"}), frozenset({"e", "o"})})

# How Beijing says characters whose common reading is another: 长 of 长阳/长辛店 is chang,
# 朝 of 朝阳 is chao, 堡 of 马家堡 is pu (normalised keys).
PLACE_READINGS = {"长": "can", "朝": "cao", "堡": "pu"}

_INITIALS = (
    "zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h",
    "j", "q", "x", "r", "z", "c", "s", "y", "w",
)  # fmt: skip
_DIGITS = re.compile(r"[0-9]+")
_DIGIT_KEYS = dict(
    zip("0123456789", ("lin", "yi", "er", "san", "si", "wu", "liu", "qi", "ba", "jiu"), strict=True)
)
_MAX_DIGIT_RUN = 2
_HALF = 0.5
_NEAR_HALF = 0.25


def split(syllable: str) -> tuple[str, str]:
    """``syllable`` as (initial, final); the initial is empty for 啊-like syllables."""
    for initial in _INITIALS:
        if syllable.startswith(initial) and len(syllable) > len(initial):
            return initial, syllable[len(initial) :]
    return "", syllable


@functools.cache
def normalise(syllable: str) -> str:
    """The key of a toneless pinyin syllable with the folded confusions merged (shi -> si)."""
    if not syllable or not any(v in syllable for v in "aeiouv"):
        return syllable
    initial, final = split(syllable)
    initial = FOLDED_INITIALS.get(initial, initial)
    final = FOLDED_FINALS.get(final, final)
    return initial + final


@functools.cache
def readings(char: str) -> tuple[str, ...]:
    """Normalised keys of every reading of ``char``, the most common first; () for non-Han."""
    found = pinyin(char, style=Style.NORMAL, heteronym=True, errors="ignore")
    if not found:
        return ()
    keys = [normalise(s) for s in found[0] if s and s.isascii() and s.isalpha()]
    return tuple(dict.fromkeys(keys))


def syllables(text: str) -> tuple[str, ...]:
    """One normalised key per character of ``text``: its most common reading, "" for non-Han.

    Positions line up with ``text`` so that a match can be cut out of it. A digit in a run of
    one or two reads as its Chinese numeral (Whisper writes 8里庄 for 八里庄); longer runs are
    numbers (phones, years) and stay "".
    """
    keys = [(readings(ch) or ("",))[0] for ch in text]
    for run in _DIGITS.finditer(text):
        if run.end() - run.start() <= _MAX_DIGIT_RUN:
            for at in range(run.start(), run.end()):
                keys[at] = _DIGIT_KEYS[text[at]]
    return tuple(keys)


def keys_of(name: str) -> list[tuple[str, ...]]:
    """The sound keys of a gazetteer ``name``: as pypinyin reads the phrase, as its characters
    read alone, and with :data:`PLACE_READINGS`; [] when ``name`` has a non-Han character.

    Every reading of every polyphonic character would add rare ones that make ordinary words
    sound like places (沙 read suo turns 所和接到 into 沙河街道), so only these are kept.
    """
    alone = syllables(name)
    if not all(alone):
        return []
    phrase = tuple(normalise(s) for s in lazy_pinyin(name, style=Style.NORMAL))
    local = tuple(PLACE_READINGS.get(ch, key) for ch, key in zip(name, alone, strict=True))
    found = [phrase] if len(phrase) == len(name) else []
    return list(dict.fromkeys([*found, alone, local]))


@functools.cache
def syllable_cost(a: str, b: str) -> float:
    """0 for one sound, 0.25-0.5 for a shared half (initial or final), 1 for unrelated.

    Both arguments are normalised keys.
    """
    if a == b:
        return 0.0
    if not a or not b:
        return 1.0
    (ia, fa), (ib, fb) = split(a), split(b)
    cost = 0.0
    if ia != ib:
        cost += _NEAR_HALF if frozenset({ia, ib}) in NEAR_INITIALS else _HALF
    if fa != fb:
        cost += _NEAR_HALF if frozenset({fa, fb}) in NEAR_FINALS else _HALF
    return cost


def distance(said: Iterable[str], name: Iterable[str]) -> float:
    """Weighted edit distance between two sequences of normalised keys.

    Substitutions cost :func:`syllable_cost`; inserting or dropping a syllable costs 1.
    """
    a, b = list(said), list(name)
    previous = [float(j) for j in range(len(b) + 1)]
    for i, x in enumerate(a, 1):
        current = [float(i)]
        for j, y in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + syllable_cost(x, y))
            )
        previous = current
    return previous[-1]
