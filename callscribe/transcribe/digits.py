"""A second hearing of the digits in a turn: the span of a spoken number decoded again alone.

Whisper drops a digit of a repeated run and garbles others when it decodes a number inside a
packed window. Decoded again on its own, on the speaker's channel and with a prompt that shows
a number written as digit words, the same span errs differently (measured on 72 digit turns of
44 voiced calls: 28 right at the first pass, 27 at the second, 39 at either; docs/benchmarks.md).
The extractor uses the second hearing as one more hearing of the turn, inside the rules that
already weigh the caller's words against the agent's read-back; this module only finds the spans
and keeps the text.
"""

from __future__ import annotations

from dataclasses import dataclass

from callscribe.schema import Segment, Word

__all__ = [
    "DIGIT_PROMPT",
    "MIN_DIGITS",
    "DigitSpan",
    "digit_spans",
    "is_prompt_number",
]

DIGIT_CHARS = frozenset("零〇一二三四五六七八九幺两洞拐0123456789")
"""Characters Whisper writes for a spoken digit (幺 for 1, 洞 for 0, 拐 for 7)."""

MIN_DIGITS = 7
"""Fewer digits than a landline's eight less one are no callback number (a house number)."""

PAD_S = 0.6
"""Audio kept on each side of the digit words: Whisper's word times are a little tight."""

MAX_GAP_WORDS = 1
"""Words between two runs of digits that still leave them one number (那个, 嗯)."""

MAX_SPAN_S = 28.0
"""A span longer than one window is decoded by its first 28 s only."""

DIGIT_PROMPT = "电话是一三九一二三四五六七八。"
"""Tells the model a number is written digit by digit in characters (measured against
slowed audio and no prompt: docs/benchmarks.md, session of 2026-12-03, second)."""

_PROMPT_NUMBER = "一三九一二三四五六七八"


@dataclass(frozen=True)
class DigitSpan:
    """Where one run of digit words lies in a segment, in call time."""

    start: float
    end: float
    digits: int


def _digit_count(word: Word) -> int:
    chars = [ch for ch in word.word if not ch.isspace() and ch not in "，。、,.-—？?！!"]
    if not chars or not all(ch in DIGIT_CHARS for ch in chars):
        return 0
    return len(chars)


def digit_spans(segment: Segment, *, min_digits: int = MIN_DIGITS) -> list[DigitSpan]:
    """The runs of digit words in ``segment`` long enough to be a callback number.

    Needs the segment's word timings; a segment without them has no spans. A run may be
    interrupted by :data:`MAX_GAP_WORDS` other words (一三九 那个 一二三四…).
    """
    spans: list[DigitSpan] = []
    run: list[Word] = []
    digits = gap = 0

    def close() -> None:
        if run and digits >= min_digits:
            start = max(0.0, run[0].start - PAD_S)
            spans.append(DigitSpan(start, min(run[-1].end + PAD_S, start + MAX_SPAN_S), digits))

    for word in segment.words or ():
        count = _digit_count(word)
        if count:
            run.append(word)
            digits += count
            gap = 0
            continue
        if run and gap < MAX_GAP_WORDS:
            gap += 1
            continue
        close()
        run, digits, gap = [], 0, 0
    close()
    return spans


def is_prompt_number(text: str) -> bool:
    """The second hearing repeats the prompt's example number: an echo, not a hearing."""
    return _PROMPT_NUMBER in text.replace(" ", "").replace("幺", "一")
