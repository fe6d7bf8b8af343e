"""Finding the spoken numbers a second hearing decodes again, and hearing them on real audio."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest

from callscribe.audio import decode_call_audio
from callscribe.schema import Segment, Word
from callscribe.transcribe.engine import ChannelEngine
from callscribe.transcribe.rehear import (
    MAX_REHEARING_CHARS,
    PAD_S,
    digit_spans,
    is_prompt_number,
    name_answers,
    rehear_name_answers,
)

_DIGIT_OF = dict(zip("零〇一二三四五六七八九幺两洞", "00123456789120", strict=True))


def to_digits(text: str) -> str:
    return "".join(_DIGIT_OF.get(ch, ch) for ch in text)


def _segment(*words: tuple[str, float, float]) -> Segment:
    return Segment(
        start=words[0][1],
        end=words[-1][2],
        text="".join(w for w, _, _ in words),
        speaker="caller",
        words=[Word(start=a, end=b, word=w, probability=0.9) for w, a, b in words],
    )


def test_a_number_said_in_groups_is_one_span_padded_on_both_sides() -> None:
    segment = _segment(
        ("我的", 10.0, 10.4),
        ("电话", 10.4, 10.8),
        ("一三九", 11.0, 11.6),
        ("一一", 11.7, 12.0),
        ("那个", 12.1, 12.4),
        ("二二三三三", 12.5, 13.6),
        ("。", 13.6, 13.6),
    )
    (span,) = digit_spans(segment)
    assert span.digits == 10
    assert span.start == pytest.approx(11.0 - PAD_S)
    assert span.end == pytest.approx(13.6 + PAD_S)


def test_short_runs_and_runs_split_by_words_are_no_number() -> None:
    segment = _segment(
        ("住", 1.0, 1.2),
        ("三", 1.2, 1.4),
        ("号楼", 1.4, 1.8),
        ("五", 1.8, 2.0),
        ("单元", 2.0, 2.4),
        ("一二三四", 3.0, 3.8),
        ("号", 3.8, 4.0),
        ("房间", 4.0, 4.4),
        ("五六七八", 4.5, 5.3),
    )
    assert digit_spans(segment) == []


def test_arabic_digits_count_and_a_segment_without_words_has_no_span() -> None:
    (span,) = digit_spans(_segment(("139", 0.2, 0.8), ("1234", 0.9, 1.5), ("5678", 1.6, 2.2)))
    assert span.digits == 11 and span.start == 0.0
    assert digit_spans(Segment(start=0.0, end=2.0, text="一三九一二三四五六七八")) == []


def test_the_prompts_own_number_is_an_echo() -> None:
    assert is_prompt_number("电话是幺三九幺二三四五六七八")
    assert not is_prompt_number("一三九一一一二二三三三")


SPOKEN_NUMBER = Path(__file__).parent.parent / "fixtures" / "calls" / "spoken_number_mono16k.flac"


def test_a_spoken_number_is_heard_a_second_time_on_real_audio(
    base_transcriber: ChannelEngine,
) -> None:
    """一九九一 and 二零一四 from two AISHELL-1 recordings: eight digits said in two groups."""
    transcript = base_transcriber.transcribe(decode_call_audio(SPOKEN_NUMBER))
    (segment,) = [s for s in transcript.segments if digit_spans(s)]
    assert segment.rehearing is not None
    again = "".join(ch for ch in to_digits(segment.rehearing) if ch.isdigit())
    assert again == "19912014"
    assert segment.rehearing not in segment.text


def test_no_second_hearing_when_it_is_turned_off(base_transcriber: ChannelEngine) -> None:
    engine = copy.copy(base_transcriber)
    engine.options = dataclasses.replace(engine.options, rehear_digits=False)
    transcript = engine.transcribe(decode_call_audio(SPOKEN_NUMBER))
    assert transcript.segments and all(s.rehearing is None for s in transcript.segments)


def _turn(speaker: str, text: str, start: float, end: float) -> Segment:
    return Segment(start=start, end=end, text=text, speaker=speaker)  # type: ignore[arg-type]


def test_the_answer_to_the_name_question_is_chosen_to_be_heard_again() -> None:
    segments = [
        _turn("agent", "您好，请讲。", 0.0, 1.0),
        _turn("caller", "我家楼下一直有噪音。", 1.0, 3.0),
        _turn("agent", "好的，您贵信？", 3.0, 4.0),
        _turn("caller", "我心中，中女是。", 4.0, 5.0),
        _turn("agent", "请问您的姓名？", 5.0, 6.0),
        _turn("agent", "喂？", 6.0, 6.5),
    ]
    assert name_answers(segments) == [3]


def test_the_answer_is_decoded_again_alone_on_real_audio(base_transcriber: ChannelEngine) -> None:
    audio = decode_call_audio(SPOKEN_NUMBER)
    segments = [_turn("agent", "请问您贵姓？", 0.0, 0.4), _turn("caller", "……", 0.5, 2.2)]
    rehear_name_answers(base_transcriber.decode_text, audio, segments)
    assert segments[0].name_rehearing is None
    heard = segments[1].name_rehearing
    assert heard is not None and len(heard) <= MAX_REHEARING_CHARS
    assert "1991" in to_digits(heard).replace(" ", "")
