"""Two-channel calls come out turn by turn, in true time order."""

from __future__ import annotations

import json
import re

import jiwer
import pytest

from callscribe.audio import decode_call_audio
from callscribe.schema import Segment, Word
from callscribe.transcribe.turns import (
    build_turns,
    merge_channel_segments,
    split_at_pauses,
    turn_order,
)
from tests.conftest import CALLS

STEREO = CALLS / "call_stereo8k_mulaw.wav"


def _norm(text: str) -> str:
    return re.sub(r"[\s\W_]+", "", text)


def _words(spec: list[tuple[float, float, str]]) -> list[Word]:
    return [Word(start=s, end=e, word=w, probability=0.9) for s, e, w in spec]


def _segment(speaker: str, spec: list[tuple[float, float, str]]) -> Segment:
    words = _words(spec)
    return Segment(
        start=words[0].start,
        end=words[-1].end,
        text="".join(w.word for w in words),
        speaker=speaker,  # type: ignore[arg-type]
        confidence=0.8,
        words=words,
    )


def test_a_segment_spanning_two_turns_is_cut_at_the_pause() -> None:
    agent = _segment("agent", [(0.2, 0.6, "您好"), (0.6, 1.0, "请讲"), (4.0, 4.5, "好的")])
    pieces = split_at_pauses(agent, 0.35)
    assert [p.text for p in pieces] == ["您好请讲", "好的"]
    assert (pieces[1].start, pieces[1].end) == (4.0, 4.5)


def test_naive_sort_swallows_turns_and_the_merge_restores_them() -> None:
    agent = _segment("agent", [(0.2, 1.0, "您好"), (4.0, 4.5, "好的"), (8.0, 8.6, "再见")])
    caller = _segment("caller", [(1.3, 3.5, "路灯坏了"), (5.0, 7.5, "在朝阳区")])
    naive = sorted([agent, caller], key=lambda s: s.start)
    assert turn_order(naive) == ["agent", "caller"]
    merged = merge_channel_segments([[agent], [caller]])
    assert turn_order(merged) == ["agent", "caller", "agent", "caller", "agent"]
    assert [s.text for s in merged] == ["您好。", "路灯坏了。", "好的。", "在朝阳区。", "再见。"]


def test_overlap_is_ordered_by_onset_and_same_speaker_runs_rejoin() -> None:
    agent = _segment("agent", [(0.0, 1.0, "请问"), (1.1, 2.0, "地址")])
    caller = _segment("caller", [(1.8, 3.0, "朝阳区"), (3.5, 4.0, "三里屯")])
    merged = merge_channel_segments([[agent], [caller]])
    assert turn_order(merged) == ["agent", "caller"]
    assert merged[1].text == "朝阳区，三里屯。"


def test_mono_segments_stay_apart_and_end_by_the_pause_after_them() -> None:
    first = _segment("agent", [(0.0, 1.0, "我家住在")])
    second = _segment("agent", [(1.2, 2.0, "朝阳区")])
    third = _segment("agent", [(4.0, 5.0, "路灯坏了")])
    for segment in (first, second, third):
        segment.speaker = None
    merged = merge_channel_segments([[third, first, second]])
    assert [s.text for s in merged] == ["我家住在，", "朝阳区。", "路灯坏了。"]
    assert [s.start for s in merged] == [0.0, 1.2, 4.0]


def test_turns_without_words_are_joined_by_their_text() -> None:
    agent = Segment(start=0.0, end=1.0, text="您好", speaker="agent", confidence=0.9)
    more = Segment(start=1.5, end=2.0, text="请讲", speaker="agent", confidence=0.7)
    caller = Segment(start=3.0, end=4.0, text="路灯坏了吗", speaker="caller", confidence=0.8)
    merged = build_turns([caller, more, agent])
    assert [(s.speaker, s.text) for s in merged] == [
        ("agent", "您好，请讲。"),
        ("caller", "路灯坏了吗？"),
    ]
    assert merged[0].confidence == 0.7 and merged[0].end == 2.0
    assert build_turns([]) == []


@pytest.mark.model
def test_stereo_8k_call_transcribed_with_speaker_turns_in_order(base_transcriber) -> None:  # type: ignore[no-untyped-def]
    reference = json.loads(STEREO.with_name("call_stereo8k_mulaw.reference.json").read_text())
    audio = decode_call_audio(STEREO)
    transcript = base_transcriber.transcribe(audio)
    expected = [t["speaker"] for t in reference["turns"]]
    assert turn_order(transcript.segments) == expected
    assert [s.speaker for s in transcript.segments] == expected
    for segment, turn in zip(transcript.segments, reference["turns"], strict=True):
        assert abs(segment.start - turn["start"]) < 2.0, (segment, turn)
    cer = jiwer.cer(_norm(reference["text"]), _norm(transcript.text))
    assert cer < 0.4, (cer, transcript.text)
