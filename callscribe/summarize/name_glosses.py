"""A given name respelt by the glosses the caller gives of its characters.

Whisper writes a name by its sound (刘健华); the caller's glosses right after it (建设的建，中华
的华) say which characters were meant. Kept apart from the per-turn cues (name_cues.py) because
it reads the dictionary by sound, a different job from finding where a name is said.
"""

from __future__ import annotations

import functools
import re

from callscribe.summarize.name_cues import segmenter
from callscribe.summarize.name_sounds import usual_reading

__all__ = ["glossed_characters", "respelt_by_glosses"]

_WORD_GLOSS = re.compile(r"(?P<word>[\u4e00-\u9fff]{2})的(?P<ch>[\u4e00-\u9fff])")
_MIN_GLOSS_FREQ = 20
"""Least jieba frequency of a word taken as what a misheard gloss word was (光灰 -> 光辉)."""


@functools.cache
def _words_by_sound() -> dict[tuple[str, str], str]:
    """Two-character dictionary words by their usual readings, the most frequent one kept."""
    best: dict[tuple[str, str], tuple[int, str]] = {}
    freq: dict[str, int] = segmenter().dt.FREQ  # type: ignore[attr-defined]
    for word, count in freq.items():
        if len(word) != 2 or count < _MIN_GLOSS_FREQ or not re.fullmatch(r"[\u4e00-\u9fff]+", word):
            continue
        key = (usual_reading(word[0]), usual_reading(word[1]))
        if key not in best or best[key][0] < count:
            best[key] = (count, word)
    return {key: word for key, (_, word) in best.items()}


def _gloss_word(word: str, before: str) -> str | None:
    """The dictionary word a gloss word is (建设, or the end of one: 心旷神怡, 梁山伯), else the
    one it sounds like (光灰 -> 光辉)."""
    freq: dict[str, int] = segmenter().dt.FREQ  # type: ignore[attr-defined]
    if freq.get(word, 0) >= _MIN_GLOSS_FREQ:
        return word
    longer = next((w for w in (before[k:] + word for k in range(len(before))) if freq.get(w)), None)
    if longer is not None:
        return longer
    return _words_by_sound().get((usual_reading(word[0]), usual_reading(word[1])))


def glossed_characters(text: str) -> set[str]:
    """The characters ``text`` glosses as "W的C" (安静的静，心旷神怡的怡 -> {静, 怡})."""
    return {match.group("ch") for match in _WORD_GLOSS.finditer(text)}


def respelt_by_glosses(name: str, surname_length: int, text: str) -> str | None:
    """The given name as the caller's glosses right after it spell it (刘健华，建设的剑，中华的
    华 -> 刘建华), or None when a gloss there makes no sense of the name.

    A gloss "W的C" explains the name character that sounds like C: by C when W holds C (中华的
    华), else by the character of W that sounds like C (建设的剑 -> 建), W misheard (光灰的灰)
    read as the dictionary word it sounds like (光辉). A gloss built from parts (女字旁一个亭子的
    亭 for 婷) explains nothing here. Characters no gloss explains stay as heard.

    A "W的C" whose C sounds like no character of the given name (菜市场的秤) is no gloss of it. A
    gloss whose word (or the dictionary word it sounds like) holds no character that sounds
    like C (美艺的利: 美意) says the turn was misheard where the name was said: the name as heard
    is then not to be trusted (None). A gloss word that is no word at all explains nothing.
    """
    given = name[surname_length:]
    at_name = text.find(given)
    if not given or at_name < 0:
        return name
    chars = list(name)
    window = text[at_name + len(given) : at_name + len(given) + _GLOSS_WINDOW]
    for match in _WORD_GLOSS.finditer(window):
        if _PARTS.search(window[max(0, match.start() - 4) : match.start()]):
            continue
        heard = match.group("ch")
        if all(usual_reading(ch) != usual_reading(heard) for ch in given):
            continue
        before = window[max(0, match.start() - 2) : match.start()]
        word = _gloss_word(match.group("word"), before)
        if word is None:
            continue
        spelt = [ch for ch in word if usual_reading(ch) == usual_reading(heard)]
        if not spelt:
            return None
        for at in range(surname_length, len(chars)):
            if usual_reading(chars[at]) == usual_reading(heard):
                if len(set(spelt)) == 1:
                    chars[at] = spelt[0]
                break
    return "".join(chars)


_GLOSS_WINDOW = 24
_PARTS = re.compile(r"旁|头|底|个|加")
"""Words of a character built from parts (女字旁一个亭, 雨字头一个文)."""
