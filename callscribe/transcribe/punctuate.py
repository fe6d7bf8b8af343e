"""Punctuation from the pauses between words, so no prompt is needed to get it.

The prompt that taught the base model to punctuate cost it accuracy (issue 13: 28.1% CER on
the 168 shared clips with it, 27.0% without). Without one the model writes few marks, but its
word timings say where the speaker paused: a short pause is a clause break ("，"), a long one
or the end of a turn a sentence break ("。", "？" after a question particle). Marks the model
did write are kept and never doubled (an ASCII one after a Chinese character becomes its
Chinese form); only marks are inserted, no character is changed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from callscribe.schema import Word
from callscribe.transcribe.postprocess import remove_spaces_between_han

__all__ = [
    "CLAUSE_PAUSE_S",
    "MARKS",
    "QUESTION_PARTICLES",
    "SENTENCE_PAUSE_S",
    "mark_for_pause",
    "punctuate",
    "sentence_mark",
]

CLAUSE_PAUSE_S = 0.3
"""Seconds of silence between two words read as a clause break ("，"). Whisper's word timings
stretch a word into the silence after it, so a measured gap is shorter than the real pause; at
0.3 s an unbroken phrase is not cut, while a breath between clauses usually is."""

SENTENCE_PAUSE_S = 1.0
"""Seconds of silence between two words read as the end of a sentence ("。")."""

QUESTION_PARTICLES = "吗么"
"""Characters that end a question whatever the intonation. 呢 and 吧 also end statements
(我在家呢, 好吧), so they are left to "。"."""

MARKS = "。！？，、；：…,.!?;:"
"""Marks that already close a clause or sentence: none is added next to one of them."""


def sentence_mark(text: str) -> str:
    """ "？" when ``text`` ends in a question particle, else "。"."""
    stripped = text.rstrip()
    return "？" if stripped and stripped[-1] in QUESTION_PARTICLES else "。"


def mark_for_pause(pause_s: float, text_before: str) -> str:
    """The mark a pause of ``pause_s`` seconds after ``text_before`` calls for ("" for none).

    The pause is rounded to the millisecond, the precision of Whisper's word timings.
    """
    pause_s = round(pause_s, 3)
    if pause_s >= SENTENCE_PAUSE_S:
        return sentence_mark(text_before)
    if pause_s >= CLAUSE_PAUSE_S:
        return "，"
    return ""


def punctuate(
    words: Sequence[Word], *, final: bool = True, final_pause_s: float | None = None
) -> str:
    """The words' text with marks at their pauses and, when ``final``, a closing mark.

    Args:
        words: one speaker's words in time order (times in seconds, any origin).
        final: close the text with a mark. Which one: the mark of ``final_pause_s`` (the
            silence before this speaker's next words) when given and at least a clause pause,
            "，" when it is shorter, and a sentence mark when it is None (the turn ends).
        final_pause_s: see ``final``.

    Returns:
        The text, spaces between Chinese characters removed; "" when the words hold none.
    """
    out = ""
    for i, word in enumerate(words):
        piece = word.word if out else word.word.lstrip()
        if out and out[-1] in MARKS:
            piece = piece.lstrip()
        out += piece
        if i + 1 < len(words):
            nxt = words[i + 1]
            mark = mark_for_pause(nxt.start - word.end, out)
            if mark and not _closed(out) and not _opens_with_mark(nxt.word):
                out = out.rstrip() + mark
    out = out.strip()
    if final and out and not _closed(out):
        if final_pause_s is None:
            out += sentence_mark(out)
        else:
            out += mark_for_pause(final_pause_s, out) or "，"
    return _fullwidth_after_han(remove_spaces_between_han(out))


_HALFWIDTH_AFTER_HAN = re.compile(r"(?<=[\u4e00-\u9fff])[,?!;:]")
_FULLWIDTH = {",": "，", "?": "？", "!": "！", ";": "；", ":": "："}


def _fullwidth_after_han(text: str) -> str:
    """The model's ASCII marks after a Chinese character as the Chinese marks (于,月 -> 于，月)."""
    return _HALFWIDTH_AFTER_HAN.sub(lambda m: _FULLWIDTH[m.group()], text)


def _closed(text: str) -> bool:
    stripped = text.rstrip()
    return bool(stripped) and stripped[-1] in MARKS


def _opens_with_mark(text: str) -> bool:
    stripped = text.lstrip()
    return bool(stripped) and stripped[0] in MARKS
