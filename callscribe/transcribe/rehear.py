"""Second hearings: a spoken number, or the caller's answer to the name question, decoded
again alone.

Whisper drops a digit of a repeated run and garbles others when it decodes a number inside a
packed window. Decoded again on its own, on the speaker's channel and with a prompt that shows
a number written as digit words, the same span errs differently (measured on 72 digit turns of
44 voiced calls: 28 right at the first pass, 27 at the second, 39 at either; docs/benchmarks.md).
The extractor uses the second hearing as one more hearing of the turn, inside the rules that
already weigh the caller's words against the agent's read-back; this module only finds the spans
and keeps the text.

The caller's answer to 您贵姓 is heard again the same way, whole and with no prompt: decoded
alone it loses the neighbouring turns' context, which is what misled the first pass there
(我信中，中女是 for 我姓周，周女士). The name rules count it as a second hearing of the name:
the same name in both hearings fills it, and a name only this hearing gives needs the agent to
say its surname.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from callscribe.schema import CallAudio, Segment, Word

__all__ = [
    "DIGIT_PROMPT",
    "MIN_DIGITS",
    "DigitSpan",
    "digit_spans",
    "is_prompt_number",
    "name_answers",
    "rehear_digits",
    "rehear_name_answers",
]

log = logging.getLogger(__name__)

DecodeText = Callable[[npt.NDArray[np.float32], str], str]
"""Decodes one clip alone with a prompt ("" for none) to Simplified text (the engine's)."""

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


NAME_QUESTIONS = ("贵姓", "贵信", "贵性", "称呼", "姓名", "名字", "怎么叫")
"""An agent turn with one of these asks the caller's name (贵信 and 贵性 are how Whisper often
writes 贵姓). The extractor's own list is rules/names.yaml; this one only chooses what to hear
again, so a question it misses costs a second hearing, never a field."""

MAX_ANSWER_S = 20.0
"""The caller's answer is heard again by its first 20 s at most."""


def name_answers(segments: Sequence[Segment]) -> list[int]:
    """The caller's turn right after each agent turn that asks the caller's name."""
    found: list[int] = []
    for i, segment in enumerate(segments):
        if segment.speaker != "agent" or not any(q in segment.text for q in NAME_QUESTIONS):
            continue
        answer = next((j for j in range(i + 1, len(segments)) if segments[j].speaker), None)
        if answer is not None and segments[answer].speaker == "caller" and answer not in found:
            found.append(answer)
    return found


MAX_REHEARING_CHARS = 120
"""A second hearing longer than this is a loop; only its start is kept."""

NAME_PAD_S = 0.3


def _channel_of(audio: CallAudio, segment: Segment) -> int:
    if segment.speaker is not None and segment.speaker in audio.speakers:
        return audio.speakers.index(segment.speaker)
    return 0


def _clip(audio: CallAudio, segment: Segment, start: float, end: float) -> npt.NDArray[np.float32]:
    rate = audio.sample_rate
    return audio.channels[_channel_of(audio, segment)][round(start * rate) : round(end * rate)]


def rehear_digits(decode: DecodeText, audio: CallAudio, segments: Sequence[Segment]) -> None:
    """Decode each run of digit words again alone, on its speaker's channel, with
    :data:`DIGIT_PROMPT`; the text goes into ``Segment.rehearing``."""
    heard = 0
    for segment in segments:
        texts = []
        for span in digit_spans(segment):
            clip = _clip(audio, segment, span.start, span.end)
            if not clip.size:
                continue
            heard += 1
            text = decode(clip, DIGIT_PROMPT)
            if text and not is_prompt_number(text):
                texts.append(text[:MAX_REHEARING_CHARS])
        if texts:
            segment.rehearing = "，".join(texts)
    if heard:
        log.debug("%s: %d digit span(s) heard again", audio.sha256[:12], heard)


def rehear_name_answers(decode: DecodeText, audio: CallAudio, segments: Sequence[Segment]) -> None:
    """Decode the caller's answer to the name question again alone, with no prompt; the text
    goes into ``Segment.name_rehearing``."""
    for index in name_answers(segments):
        segment = segments[index]
        start = max(0.0, segment.start - NAME_PAD_S)
        clip = _clip(audio, segment, start, min(segment.end + NAME_PAD_S, start + MAX_ANSWER_S))
        if not clip.size:
            continue
        text = decode(clip, "")
        if text:
            segment.name_rehearing = text[:MAX_REHEARING_CHARS]
