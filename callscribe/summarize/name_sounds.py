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
    "asks_surname",
    "gloss_surname",
    "heard_honorific",
    "homophone_surname",
    "is_courtesy",
    "misheard_cue_ends",
    "sounds",
    "usual_reading",
]


@dataclass(frozen=True)
class _SoundRules:
    courtesy: tuple[str, ...]
    cue_sounds: frozenset[str]
    honorifics: dict[str, tuple[frozenset[str], frozenset[str]]]
    glosses: dict[str, str]
    surnames: str


@functools.cache
def _rules() -> _SoundRules:
    r = load_rules("names")
    return _SoundRules(
        courtesy=tuple(r["not_names"]),
        cue_sounds=frozenset(r["surname_cue_sounds"]),
        honorifics={
            str(h): (frozenset(first), frozenset(second))
            for h, (first, second) in r["honorific_sounds"].items()
        },
        glosses={str(k): str(v) for k, v in r["surname_glosses"].items()},
        surnames=str(r["surnames"]).replace(" ", ""),
    )


@functools.cache
def sounds(ch: str) -> frozenset[str]:
    """Every toneless reading of one character (empty for anything but a CJK character)."""
    if not "\u4e00" <= ch <= "\u9fff":
        return frozenset()
    return frozenset(pinyin(ch, style=Style.NORMAL, heteronym=True)[0])


def _alike(a: str, b: str) -> bool:
    return a == b or bool(sounds(a) & sounds(b))


def is_courtesy(words: str) -> bool:
    """谢谢, 不好意思, 麻烦…: words that are never a name, nor the start of one."""
    return any(words.startswith(w) or (w.startswith(words) and words) for w in _rules().courtesy)


def _cue_sound_at(text: str, pos: int) -> bool:
    return pos < len(text) and bool(sounds(text[pos]) & _rules().cue_sounds)


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
    for honorific, (first, second) in _rules().honorifics.items():
        if pair == honorific or (sounds(pair[0]) & first and sounds(pair[1]) & second):
            return honorific
    return None


def homophone_surname(ch: str) -> str | None:
    """The most common surname that sounds like ``ch`` (前 -> 钱), or None.

    Only the usual reading of ``ch`` counts: 鸟 reads diao only in old texts, and taking it made
    鸟女士 (苗女士 misheard) into 刁女士.
    """
    rules = _rules()
    if ch in rules.surnames:
        return ch
    return next((s for s in rules.surnames if usual_reading(s) == usual_reading(ch)), None)


@functools.cache
def usual_reading(ch: str) -> str:
    """The usual toneless reading (董 is dong, though pypinyin also knows zhong; 立 is li,
    though it also reads wei)."""
    return str(pinyin(ch, style=Style.NORMAL)[0][0])


def gloss_surname(text: str) -> tuple[str, int] | None:
    """The surname a gloss spells out (立早章, heard 李早张 -> 章) and where the gloss starts.

    The two explaining characters must sound like a known gloss and the third like its surname.
    """
    rules = _rules()
    for i in range(len(text) - 2):
        for explanation, surname in rules.glosses.items():
            if (
                _alike(text[i], explanation[0])
                and _alike(text[i + 1], explanation[1])
                and _alike(text[i + 2], surname)
            ):
                return surname, i
    return None
