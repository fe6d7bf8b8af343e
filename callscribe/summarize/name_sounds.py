"""Name cues as Whisper hears them: by sound, not by character.

On a phone line 我姓钱 comes out as 我心前, 孙女士 as 孙女师, 立早章 as 李早张 and 姓谢 as 谢谢.
These helpers compare toneless pinyin (pypinyin, every reading of a character) so that a cue,
an honorific or a surname gloss is recognised in its misheard forms; the name rules
(:mod:`callscribe.summarize.names`) decide what the cues are worth. The sound tables are in
rules/names.yaml.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from pypinyin import Style, pinyin

from callscribe.summarize.rules import load_rules

__all__ = [
    "NameRules",
    "asks_surname",
    "gloss_surname",
    "heard_honorific",
    "homophone_surname",
    "is_courtesy",
    "misheard_cue_ends",
    "name_rules",
    "sounds",
    "sounds_alike",
    "usual_reading",
]


@dataclass(frozen=True)
class NameRules:
    """rules/names.yaml, read once for both the cue readers (name_cues.py) and the sound
    helpers here; cues sorted longest first."""

    compound: tuple[str, ...]
    surnames: frozenset[str]
    surnames_by_frequency: str
    """The same surnames as one string, most common first: a homophone resolves to the most
    common surname that sounds like it."""
    full_cues: tuple[str, ...]
    surname_cues: tuple[str, ...]
    questions: tuple[str, ...]
    declines: tuple[str, ...]
    honorifics: dict[str, str | None]
    gender_words: dict[str, str]
    explanations: tuple[str, ...]
    stops: str
    courtesy: tuple[str, ...]
    cue_sounds: frozenset[str]
    honorific_sounds: dict[str, tuple[frozenset[str], frozenset[str]]]
    glosses: dict[str, str]


@functools.cache
def name_rules() -> NameRules:
    """The name rules, read once per process."""
    r = load_rules("names")
    by_frequency = str(r["surnames"]).replace(" ", "")
    return NameRules(
        compound=tuple(r["compound_surnames"]),
        surnames=frozenset(by_frequency),
        surnames_by_frequency=by_frequency,
        full_cues=tuple(sorted(r["full_name_cues"], key=len, reverse=True)),
        surname_cues=tuple(sorted(r["surname_cues"], key=len, reverse=True)),
        questions=tuple(r["name_questions"]),
        declines=tuple(r["declines"]),
        honorifics=dict(r["honorifics"]),
        gender_words=dict(r["gender_words"]),
        explanations=tuple(r["surname_explanations"]),
        stops=str(r["name_stops"]),
        courtesy=tuple(r["not_names"]),
        cue_sounds=frozenset(r["surname_cue_sounds"]),
        honorific_sounds={
            str(h): (frozenset(first), frozenset(second))
            for h, (first, second) in r["honorific_sounds"].items()
        },
        glosses={str(k): str(v) for k, v in r["surname_glosses"].items()},
    )


@functools.cache
def sounds(ch: str) -> frozenset[str]:
    """Every toneless reading of one character (empty for anything but a CJK character)."""
    if not "\u4e00" <= ch <= "\u9fff":
        return frozenset()
    return frozenset(pinyin(ch, style=Style.NORMAL, heteronym=True)[0])


def sounds_alike(a: str, b: str) -> bool:
    """Two characters the same or with a toneless reading in common (章 and 张, 柳 and 刘)."""
    return a == b or bool(sounds(a) & sounds(b))


def is_courtesy(words: str) -> bool:
    """谢谢, 不好意思, 麻烦…: words that are never a name, nor the start of one."""
    return any(
        words.startswith(w) or (w.startswith(words) and words) for w in name_rules().courtesy
    )


def _cue_sound_at(text: str, pos: int) -> bool:
    return pos < len(text) and bool(sounds(text[pos]) & name_rules().cue_sounds)


def misheard_cue_ends(text: str) -> list[int]:
    """Where a surname would start after 我姓 heard as 我信/我性/我新… (not 我姓 itself)."""
    return [
        i + 2
        for i in range(len(text) - 2)
        if text[i] == "我" and text[i + 1] != "姓" and _cue_sound_at(text, i + 1)
    ]


def asks_surname(text: str) -> bool:
    """贵姓 in a misheard form (贵信, 贵性…)."""
    return any(text[i] == "贵" and _cue_sound_at(text, i + 1) for i in range(len(text) - 1))


def heard_honorific(text: str, pos: int) -> str | None:
    """先生 or 女士 when the two characters at ``pos`` sound like it (孙女师, 钱先森)."""
    pair = text[pos : pos + 2]
    if len(pair) < 2:
        return None
    for honorific, (first, second) in name_rules().honorific_sounds.items():
        if pair == honorific or (sounds(pair[0]) & first and sounds(pair[1]) & second):
            return honorific
    return None


def homophone_surname(ch: str) -> str | None:
    """The most common surname that sounds like ``ch`` (前 -> 钱), or None.

    Only the usual reading of ``ch`` counts: 鸟 reads diao only in old texts, and taking it made
    鸟女士 (苗女士 misheard) into 刁女士.
    """
    rules = name_rules()
    if ch in rules.surnames:
        return ch
    return next(
        (s for s in rules.surnames_by_frequency if usual_reading(s) == usual_reading(ch)), None
    )


@functools.cache
def usual_reading(ch: str) -> str:
    """The usual toneless reading (董 is dong, though pypinyin also knows zhong; 立 is li,
    though it also reads wei)."""
    return str(pinyin(ch, style=Style.NORMAL)[0][0])


def gloss_surname(text: str) -> tuple[str, int] | None:
    """The surname a gloss spells out (立早章, heard 李早张 -> 章) and where the gloss starts.

    The two explaining characters must sound like a known gloss and the third like its surname.
    """
    rules = name_rules()
    for i in range(len(text) - 2):
        for explanation, surname in rules.glosses.items():
            if (
                sounds_alike(text[i], explanation[0])
                and sounds_alike(text[i + 1], explanation[1])
                and sounds_alike(text[i + 2], surname)
            ):
                return surname, i
    return None
