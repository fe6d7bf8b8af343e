"""The window planner: clips of both channels packed in time order, times and speakers restored."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callscribe.schema import Segment, Word
from callscribe.transcribe.postprocess import RawSegment
from callscribe.transcribe.windows import (
    TOUCH_S,
    ClipSpan,
    Placement,
    Window,
    clips_from_flat,
    plan_windows,
    to_source,
    unheard,
    window_samples,
)

RATE = 16_000


def _all(windows: list[Window]) -> list[Placement]:
    return [p for w in windows for p in w.placements]


def test_no_clips_no_windows() -> None:
    assert plan_windows([]) == []
    assert clips_from_flat(0, []) == []


def test_alternating_turns_share_a_window_in_time_order_with_gaps() -> None:
    clips = [
        ClipSpan(1, 4.0, 7.5),
        ClipSpan(0, 0.2, 3.6),
        ClipSpan(0, 8.0, 11.0),
        ClipSpan(1, 11.5, 14.0),
    ]
    [window] = plan_windows(clips, gap_s=0.5)
    assert [(p.channel, p.source_start) for p in window.placements] == [
        (0, 0.2),
        (1, 4.0),
        (0, 8.0),
        (1, 11.5),
    ]
    starts = [p.window_start for p in window.placements]
    assert starts == pytest.approx([0.0, 3.9, 7.9, 11.4])
    assert window.duration == pytest.approx(3.4 + 3.5 + 3.0 + 2.5 + 3 * 0.5)


def test_a_clip_that_does_not_fit_opens_the_next_window_whole() -> None:
    clips = [ClipSpan(0, 0.0, 20.0), ClipSpan(1, 21.0, 30.0), ClipSpan(0, 31.0, 35.0)]
    first, second = plan_windows(clips, max_window_s=29.0, gap_s=0.5)
    assert [p.source_start for p in first.placements] == [0.0]
    assert [p.source_start for p in second.placements] == [21.0, 31.0]
    assert second.placements[0].window_start == 0.0
    assert (first.index, second.index) == (0, 1)


def test_a_clip_longer_than_a_window_is_cut_into_equal_whole_pieces() -> None:
    [clip] = clips_from_flat(1, [5.0, 75.0])
    windows = plan_windows([clip], max_window_s=29.0)
    pieces = _all(windows)
    assert len(windows) == len(pieces) == 3
    assert pieces[0].source_start == 5.0 and pieces[-1].source_end == 75.0
    for a, b in zip(pieces, pieces[1:], strict=False):
        assert a.source_end == b.source_start
    assert all(p.duration == pytest.approx(70.0 / 3) for p in pieces)
    assert all(w.duration <= 29.0 + 1e-9 for w in windows)


def test_overlapping_speech_of_both_channels_keeps_both() -> None:
    clips = [ClipSpan(0, 0.0, 5.0), ClipSpan(1, 3.0, 4.0)]
    [window] = plan_windows(clips, gap_s=0.5)
    agent, caller = window.placements
    assert (agent.channel, caller.channel) == (0, 1)
    assert caller.window_start == pytest.approx(5.5)
    placement, start, end = window.to_source(5.6, 6.2)
    assert placement is caller
    assert (start, end) == pytest.approx((3.1, 3.7))


def test_touching_clips_of_one_channel_are_placed_as_one() -> None:
    clips = clips_from_flat(0, [22.61, 23.9, 23.9, 26.7]) + [ClipSpan(1, 23.0, 24.0)]
    [window] = plan_windows(clips)
    agent, caller = window.placements
    assert (agent.source_start, agent.source_end) == (22.61, 26.7)
    assert (caller.channel, caller.source_start) == (1, 23.0)
    # ... but not beyond a window, and never across channels
    long = plan_windows(clips_from_flat(0, [0.0, 20.0, 20.0, 35.0]))
    assert [(p.source_start, p.source_end) for p in _all(long)] == [(0.0, 20.0), (20.0, 35.0)]
    apart = plan_windows(clips_from_flat(0, [0.0, 1.0]) + clips_from_flat(1, [1.0, 2.0]))
    assert len(_all(apart)) == 2


def test_same_start_on_both_channels_orders_by_channel() -> None:
    [window] = plan_windows([ClipSpan(1, 2.0, 3.0), ClipSpan(0, 2.0, 2.5)])
    assert [p.channel for p in window.placements] == [0, 1]


def test_times_map_back_exactly_and_clamp_into_the_clip() -> None:
    [window] = plan_windows([ClipSpan(0, 10.25, 12.0), ClipSpan(1, 40.0, 41.5)], gap_s=0.5)
    first, second = window.placements
    assert first.to_source(0.0) == 10.25
    assert first.to_source(1.0) == 11.25
    assert second.to_source(second.window_start) == 40.0
    assert second.to_source(second.window_start + 0.75) == 40.75
    # Whisper stretched a word into the gap after the first clip: it stays inside the clip.
    placement, start, end = window.to_source(1.5, 1.9)
    assert placement is first
    assert (start, end) == (11.75, 12.0)
    # A word starting a little before its clip in window time is clamped to the clip's start.
    assert second.to_source(second.window_start - 0.2) == 40.0


def test_in_a_gap_the_nearest_placement_wins() -> None:
    [window] = plan_windows([ClipSpan(0, 0.0, 1.0), ClipSpan(1, 2.0, 3.0)], gap_s=1.0)
    assert window.placement_at(1.2).channel == 0
    assert window.placement_at(1.8).channel == 1
    assert window.placement_at(-1.0).channel == 0
    assert window.placement_at(99.0).channel == 1


def test_flat_clips_drop_empty_spans() -> None:
    assert clips_from_flat(1, [0.0, 1.0, 2.0, 2.0, 3.0, 4.5]) == [
        ClipSpan(1, 0.0, 1.0),
        ClipSpan(1, 3.0, 4.5),
    ]


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="max_window_s"):
        plan_windows([ClipSpan(0, 0.0, 1.0)], max_window_s=0.0)
    with pytest.raises(ValueError, match="gap_s"):
        plan_windows([ClipSpan(0, 0.0, 1.0)], gap_s=-0.1)


def test_window_samples_lay_each_clip_at_its_offset_with_silence_between() -> None:
    left = np.arange(10 * RATE, dtype=np.float32) / (10 * RATE)
    right = -np.arange(10 * RATE, dtype=np.float32) / (10 * RATE)
    [window] = plan_windows([ClipSpan(0, 1.0, 2.0), ClipSpan(1, 1.5, 3.0)], gap_s=0.5)
    samples = window_samples(window, [left, right], RATE)
    assert samples.dtype == np.float32
    assert len(samples) == round(window.duration * RATE) == int(3.0 * RATE)
    np.testing.assert_array_equal(samples[:RATE], left[RATE : 2 * RATE])
    assert not samples[RATE : int(1.5 * RATE)].any()
    np.testing.assert_array_equal(samples[int(1.5 * RATE) :], right[int(1.5 * RATE) : 3 * RATE])


def test_window_samples_stop_at_the_end_of_the_audio() -> None:
    short = np.ones(RATE, dtype=np.float32)
    [window] = plan_windows([ClipSpan(0, 0.5, 1.02)])
    samples = window_samples(window, [short], RATE)
    assert len(samples) == round(0.52 * RATE)
    assert samples[: RATE // 2].all() and not samples[RATE // 2 :].any()


@st.composite
def _calls(draw: st.DrawFn) -> list[ClipSpan]:
    clips: list[ClipSpan] = []
    for channel in (0, 1):
        t = draw(st.floats(0.0, 5.0))
        for _ in range(draw(st.integers(0, 12))):
            length = draw(st.floats(0.05, 70.0))
            clips.append(ClipSpan(channel, t, t + length))
            t += length + draw(st.floats(0.0, 10.0))
    return clips


@settings(max_examples=300, deadline=None)
@given(clips=_calls(), max_window_s=st.floats(5.0, 29.0), gap_s=st.floats(0.0, 2.0))
def test_packing_keeps_every_second_in_order_and_within_windows(
    clips: list[ClipSpan], max_window_s: float, gap_s: float
) -> None:
    windows = plan_windows(clips, max_window_s=max_window_s, gap_s=gap_s)
    placements = _all(windows)
    assert [w.index for w in windows] == list(range(len(windows)))
    for window in windows:
        assert window.duration <= max_window_s + 1e-9
        assert window.placements[0].window_start == 0.0
        assert window.duration == pytest.approx(window.placements[-1].window_end)
        for a, b in zip(window.placements, window.placements[1:], strict=False):
            assert b.window_start == pytest.approx(a.window_end + gap_s)
    for a, b in zip(windows, windows[1:], strict=False):
        # greedy: the next window's first piece did not fit after the previous window
        assert a.duration + gap_s + b.placements[0].duration > max_window_s
    # turn order: placements come in (start, channel) order
    keys = [(p.source_start, p.channel) for p in placements]
    assert keys == sorted(keys)
    # every clip lies whole in one placement unless it is longer than a window
    for clip in clips:
        if clip.duration <= max_window_s:
            holding = [
                p
                for p in placements
                if p.channel == clip.channel
                and p.source_start <= clip.start
                and clip.end <= p.source_end
            ]
            assert len(holding) == 1
            continue
        own = [
            p
            for p in placements
            if p.channel == clip.channel and clip.start <= p.source_start < clip.end
        ]
        assert len(own) >= 2
        assert own[0].source_start == clip.start and own[-1].source_end == clip.end
        for a, b in zip(own, own[1:], strict=False):
            assert a.source_end == b.source_start
    # no second of speech is placed twice; only gaps of TOUCH_S between clips are added
    spoken = sum(c.duration for c in clips)
    placed = sum(p.duration for p in placements)
    assert spoken - 1e-6 <= placed <= spoken + TOUCH_S * len(clips) + 1e-6
    # times map back: a point inside a placement goes back to the same offset in its clip
    for window in windows:
        for p in window.placements:
            mid = p.window_start + p.duration / 2
            placement, start, end = window.to_source(mid, mid)
            assert placement is p
            assert start == pytest.approx(p.source_start + p.duration / 2)
            assert p.source_start <= start <= p.source_end


def _word(start: float, end: float, text: str) -> Word:
    return Word(start=start, end=end, word=text, probability=0.5)


def test_a_segment_over_two_clips_goes_back_as_two_speakers_at_their_times() -> None:
    [window] = plan_windows([ClipSpan(0, 10.0, 12.0), ClipSpan(1, 12.5, 14.0)], gap_s=0.5)
    words = [_word(0.1, 0.9, " 您好"), _word(0.9, 2.3, "请讲Ｇ"), _word(2.6, 3.2, " 路灯")]
    segment = Segment(start=0.0, end=3.2, text="您好请讲，路灯", confidence=0.8, words=words)
    agent, caller = to_source(segment, window, ["agent", "caller"])
    assert (agent.speaker, agent.text, agent.start, agent.end) == (
        "agent",
        "您好请讲，",
        10.1,
        12.0,
    )
    assert [w.word for w in agent.words or []] == [" 您好", "请讲，"]
    assert (caller.speaker, caller.text) == ("caller", "路灯")
    assert (caller.start, caller.end) == pytest.approx((12.6, 13.2))
    assert agent.confidence == caller.confidence == 0.8


def test_a_segment_without_words_goes_back_whole_by_its_midpoint() -> None:
    [window] = plan_windows([ClipSpan(0, 10.0, 12.0), ClipSpan(1, 12.5, 14.0)], gap_s=0.5)
    segment = Segment(start=1.0, end=4.0, text="路灯坏了", confidence=0.8)
    [piece] = to_source(segment, window, ["agent", "caller"])
    assert piece.speaker == "caller"
    assert (piece.start, piece.end) == (12.5, 14.0)


def test_clips_without_a_word_of_their_own_are_named() -> None:
    [window] = plan_windows(
        [ClipSpan(0, 0.0, 2.0), ClipSpan(1, 3.0, 5.0), ClipSpan(0, 6.0, 7.0)], gap_s=0.5
    )
    first, second, third = window.placements
    said = RawSegment(
        start=0.0,
        end=4.0,
        text="您好路灯",
        avg_logprob=-0.2,
        no_speech_prob=0.1,
        words=(_word(0.2, 1.0, "您好"), _word(2.6, 4.0, "路灯")),
    )
    assert unheard(window, [said]) == [third]
    wordless = RawSegment(start=5.0, end=5.9, text="好", avg_logprob=-0.2, no_speech_prob=0.1)
    assert unheard(window, [said, wordless]) == []
    assert unheard(window, []) == [first, second, third]
