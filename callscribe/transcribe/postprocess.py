"""Mandarin clean-up of Whisper output: Simplified characters, punctuation, hallucinations.

Every function here is engine-agnostic: faster-whisper and the openai-whisper reference engine
hand their raw segments to :func:`clean_segment`, so both are judged by the same rules.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import re
import unicodedata
from dataclasses import dataclass

import opencc

from callscribe.schema import Segment, Speaker, Word

__all__ = [
    "CLIP_JOIN_GAP_S",
    "RawSegment",
    "add_final_punctuation",
    "clean_segment",
    "collapse_repetitions",
    "drop_repeated_segments",
    "end_sentences",
    "confidence_from_logprob",
    "is_hallucination",
    "is_prompt_echo",
    "is_repetition_loop",
    "remove_spaces_between_han",
    "repair_broken_punctuation",
    "strip_hallucinations",
    "to_simplified",
    "trim_loop_tail",
    "words_of_text",
]

_FINAL_PUNCTUATION = "。！？!?…；;，,、：:"
_PUNCT_OR_SPACE = re.compile(r"[\s\W_]+", re.UNICODE)

# Subtitle credits and channel plugs Whisper learnt from its training data and emits on silence,
# music or noise. Matched against a normalised form (NFKC, Simplified, lower case, no spaces or
# punctuation), so "字幕由 Amara.org 社区提供", "字幕由Amara．org社區提供" are one variant.
_HALLUCINATIONS = [
    re.compile(p)
    for p in (
        r"(小编)?字幕(由|by|提供|制作|翻译|校对|校订|组|志愿者)[^。！？]{0,20}",
        r"[^。！？]{0,10}amara(org)?(社区)?(提供)?(的字幕)?",
        r"请?不吝(点赞|订阅|转发|打赏)+[^。！？]{0,16}",
        r"(点赞|订阅|转发|打赏){2,}[^。！？]{0,12}",
        r"[^。！？]{0,8}明镜(与|和|及)?点点栏目",
        r"明镜需要您的支持(欢迎订阅明镜)?",
        r"欢迎订阅[^。！？]{0,10}(频道|栏目)",
        r"请订阅我的频道",
        r"(中文|简体|繁体)字幕[^。！？]{0,10}",
        r"(感谢|谢谢)(大家|您|你)?的?(收看|观看|收听)",
        r"(下期|下集|下次)(节目)?再见",
        r"索兰娅",
        r"优优独播剧场(yoyotelevisionseriesexclusive)?",
        r"(作词|作曲|词曲|编曲|演唱)(李宗盛|林夕)",
    )
]

CLIP_JOIN_GAP_S = 1.5
"""A bare segment followed by the same channel's next one within this many seconds ends in
"，" rather than "。": the speaker paused inside a sentence and the VAD cut the clip there."""

_MIN_CONTENT_CHARS = 2
"""Characters a segment must keep after removing hallucinations, else it is dropped."""

_LOOP_MIN_REPEATS = {1: 8, 2: 5}
"""Consecutive repeats that make a run a loop, by unit length; longer units loop at 4."""

_REPEATED_SEGMENTS = 4
"""Consecutive segments with the same text that make a loop across segments: Whisper on
digital silence wrote 你别忘了 29 times, once per timestamped segment, each segment alone clean."""

_LOOP_SHARE = 0.5
"""A segment whose text is mostly one repeated run starting at (nearly) its beginning is a
decoding loop, dropped entirely."""

_LOOP_LEAD_CHARS = 4
"""Characters before a loop that make them words the speaker said: a segment with this many
before its loop keeps them and loses the loop (我想咨询一下服务务务… -> 我想咨询一下服务);
with fewer, the segment is a loop from its start."""


@dataclass(frozen=True)
class RawSegment:
    """What either engine decoded for one stretch of audio, before clean-up."""

    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float = 1.0
    words: tuple[Word, ...] | None = None


@functools.cache
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Convert Traditional characters to Simplified (OpenCC t2s)."""
    return str(_converter().convert(text))


def _normalise(text: str) -> str:
    return _PUNCT_OR_SPACE.sub("", to_simplified(unicodedata.normalize("NFKC", text)).lower())


def add_final_punctuation(text: str, mark: str = "。") -> str:
    """End a sentence with ``mark`` when Whisper left it bare; never touch the characters."""
    stripped = text.strip()
    if not stripped or stripped[-1] in _FINAL_PUNCTUATION:
        return stripped
    return stripped + mark


_BROKEN_COMMA = re.compile(r"(?<=[\u4e00-\u9fff])[\uff21-\uff3a\uff41-\uff5a](?=[\u4e00-\u9fff]|$)")


_SPACE_BETWEEN_HAN = re.compile(r"(?<=[\u4e00-\u9fff])[ \u3000]+(?=[\u4e00-\u9fff])")


def remove_spaces_between_han(text: str) -> str:
    """Drop the word spaces Whisper sometimes puts between Chinese characters (佛地产 中间)."""
    return _SPACE_BETWEEN_HAN.sub("", text)


def repair_broken_punctuation(text: str) -> str:
    """Turn a lone fullwidth Latin letter between Chinese characters back into "，".

    Whisper's tokenizer spells "，" (U+FF0C) as three byte tokens; a small model sometimes picks
    the right first two bytes and a wrong third, which decodes as a fullwidth letter such as
    "Ｇ" (U+FF27). No Mandarin sentence has a lone fullwidth letter between two characters, so
    this restores the punctuation mark that was meant and changes no Chinese character.
    """
    return _BROKEN_COMMA.sub("，", text)


def is_hallucination(text: str) -> bool:
    """True when the text holds a known subtitle credit or channel plug, in any variant."""
    norm = _normalise(text)
    return any(p.search(norm) for p in _HALLUCINATIONS)


def strip_hallucinations(text: str) -> str:
    """Remove known hallucinated phrases; return "" when nothing of substance is left.

    Works on the normalised text, so a phrase is removed together with its punctuation; what
    remains is returned only if it holds at least two word characters.
    """
    if not is_hallucination(text):
        return text
    norm = _normalise(text)
    for pattern in _HALLUCINATIONS:
        norm = pattern.sub("", norm)
    if len(norm) < _MIN_CONTENT_CHARS:
        return ""
    # Rebuild from the original text by dropping each hallucinated clause (split on punctuation).
    clauses = re.split(r"(?<=[。！？!?，,；;])", text)
    kept = [c for c in clauses if c.strip() and not is_hallucination(c)]
    return "".join(kept).strip()


def _longest_run(text: str) -> tuple[int, int, int]:
    """(start, unit length, repeats) of the longest consecutive repetition in ``text``."""
    best = (0, 0, 0)
    best_cover = 0
    n = len(text)
    for unit in range(1, min(16, n // 2) + 1):
        i = 0
        while i + unit <= n:
            repeats = 1
            while text[i + repeats * unit : i + (repeats + 1) * unit] == text[i : i + unit]:
                repeats += 1
            if repeats > 1 and repeats * unit > best_cover:
                best, best_cover = (i, unit, repeats), repeats * unit
            i += max(1, (repeats - 1) * unit) if repeats > 1 else 1
    return best


def _is_loop_run(unit: int, repeats: int) -> bool:
    return unit > 0 and repeats >= _LOOP_MIN_REPEATS.get(unit, 4)


def is_repetition_loop(text: str) -> bool:
    """True when the text is a decoding loop from (nearly) its start: nothing in it to keep.

    That is, most of it is one unit repeated over and over, and fewer than
    ``_LOOP_LEAD_CHARS`` characters come before the repeats. A loop after real words is not
    one: :func:`trim_loop_tail` cuts it and keeps the words.
    """
    norm = _normalise(text)
    if not norm:
        return False
    start, unit, repeats = _longest_run(norm)
    return (
        _is_loop_run(unit, repeats)
        and start < _LOOP_LEAD_CHARS
        and unit * repeats / len(norm) > _LOOP_SHARE
    )


def trim_loop_tail(text: str) -> str:
    """Cut a loop that runs to the end of the text down to one occurrence of its unit.

    Whisper that falls into a loop at the end of a turn (服务务务务…) repeats until the
    window ends; the words before the loop are real, the repeats are not. A loop with words
    after it is collapsed to two occurrences instead (:func:`collapse_repetitions`), as is a
    text with no loop at its end.
    """
    start, unit, repeats = _longest_run(text)
    if not _is_loop_run(unit, repeats):
        return text
    end = start + unit * repeats
    rest = text[end:].strip()
    if _normalise(rest) and not text[start : start + unit].startswith(rest):
        return collapse_repetitions(text)
    return text[: start + unit]


def collapse_repetitions(text: str) -> str:
    """Cut every looping run down to two occurrences of its unit (好的好的好的好的… -> 好的好的)."""
    out = text
    for _ in range(8):
        start, unit, repeats = _longest_run(out)
        if not _is_loop_run(unit, repeats):
            break
        out = out[: start + 2 * unit] + out[start + repeats * unit :]
    return out


def is_prompt_echo(text: str, prompt: str | None) -> bool:
    """True when every clause of the text is a piece of the initial prompt.

    On silence or noise Whisper often repeats the end of its prompt, confidently (high
    log-probability), while its own no-speech probability says nobody spoke; the caller of
    this function checks the latter, because an agent really does say the greeting.
    """
    if not prompt:
        return False
    source = _normalise(prompt)
    clauses = [_normalise(c) for c in re.split(r"[。！？!?，,；;、\s]+", text)]
    clauses = [c for c in clauses if c]
    return bool(clauses) and all(c in source for c in clauses)


def drop_repeated_segments(segments: list[Segment]) -> list[Segment]:
    """Drop every run of ``_REPEATED_SEGMENTS`` or more consecutive segments with one text.

    The loop detector sees one segment at a time; a decoding loop can also come out as the same
    short sentence in segment after segment. People repeat themselves twice or three times
    (喂？喂？), not four times in a row with nothing else said.
    """
    out: list[Segment] = []
    run: list[Segment] = []
    for segment in [*segments, None]:
        if segment is not None and run and _normalise(segment.text) == _normalise(run[0].text):
            run.append(segment)
            continue
        if len(run) < _REPEATED_SEGMENTS:
            out.extend(run)
        run = [segment] if segment is not None else []
    return out


def end_sentences(segments: list[Segment], *, join_gap_s: float = CLIP_JOIN_GAP_S) -> list[Segment]:
    """Close every segment of one channel that Whisper left without a final mark.

    Each VAD clip is decoded on its own, so a sentence with a pause in it arrives as two
    segments, the first without punctuation. Closing it with "。" would cut the sentence in
    two (我家住在。朝阳区望京街道。); when the channel's next segment starts within
    ``join_gap_s`` it gets "，" instead. Only marks are added; no character changes.

    Args:
        segments: one channel's cleaned segments in time order, as
            ``clean_segment(..., final_punctuation=False)`` returns them.
        join_gap_s: the longest pause, in seconds, still read as inside a sentence.
    """
    out: list[Segment] = []
    for segment, following in itertools.zip_longest(segments, segments[1:]):
        within = following is not None and following.start - segment.end <= join_gap_s
        text = add_final_punctuation(segment.text, "，" if within else "。")
        out.append(dataclasses.replace(segment, text=text))
    return out


def words_of_text(words: list[Word], text: str) -> list[Word]:
    """The words that still make up ``text`` after clean-up cut pieces out of it.

    Removing a subtitle credit or collapsing a loop shortens the text; the word timings must
    shrink with it, or QA would see the credit's words with times in the word view. Words are
    matched in order against the cleaned text, compared in their normalised form; a word whose
    characters are no longer there is left out. Words with no characters of their own (pure
    punctuation) stay with the word before them.
    """
    target = _normalise(text)
    if _normalise("".join(w.word for w in words)) == target:
        return words
    kept: list[Word] = []
    pos = 0
    for word in words:
        norm = _normalise(word.word)
        if not norm:
            if kept:
                kept.append(word)
        elif target.startswith(norm, pos):
            kept.append(word)
            pos += len(norm)
    return kept


def confidence_from_logprob(avg_logprob: float) -> float:
    """Segment confidence in 0..1: the geometric mean of its token probabilities."""
    return min(1.0, max(0.0, math.exp(avg_logprob)))


def clean_segment(
    raw: RawSegment,
    speaker: Speaker | None,
    *,
    no_speech_threshold: float,
    log_prob_threshold: float,
    prompt: str | None = None,
    final_punctuation: bool = True,
) -> Segment | None:
    """Apply every defence to one decoded segment; None when nothing trustworthy is left.

    Order: drop silence judged by the model (high no-speech probability together with low
    log-probability, or together with text that only repeats the prompt), Simplified
    characters without spaces between them, drop a segment that is a decoding loop from its
    start, cut a loop after real words (keeping the words, and the word timings with them),
    remove subtitle credits, repair broken commas, end with punctuation (unless
    ``final_punctuation`` is false: a caller that sees the whole channel,
    :func:`end_sentences`, punctuates better).
    """
    if raw.no_speech_prob > no_speech_threshold and raw.avg_logprob < log_prob_threshold:
        return None
    text = remove_spaces_between_han(to_simplified(raw.text.strip()))
    if not text or is_repetition_loop(text):
        return None
    if raw.no_speech_prob > no_speech_threshold and is_prompt_echo(text, prompt):
        return None
    trimmed = trim_loop_tail(text)
    kept, said = _normalise(trimmed), _normalise(text)
    tail_cut = len(kept) < len(said) and said.startswith(kept)
    text = strip_hallucinations(collapse_repetitions(trimmed))
    if not _normalise(text):
        return None
    words = None
    end = raw.end
    if raw.words is not None:
        words = words_of_text(
            [
                Word(
                    start=w.start, end=w.end, word=to_simplified(w.word), probability=w.probability
                )
                for w in raw.words
            ],
            text,
        )
        if tail_cut and words:
            # The loop's repeats took the rest of the window; the speech ended with the words.
            end = min(raw.end, max(w.end for w in words))
    text = repair_broken_punctuation(text).strip()
    return Segment(
        start=raw.start,
        end=end,
        text=add_final_punctuation(text) if final_punctuation else text,
        speaker=speaker,
        confidence=confidence_from_logprob(raw.avg_logprob),
        words=words,
        avg_logprob=raw.avg_logprob,
        no_speech_prob=raw.no_speech_prob,
    )
