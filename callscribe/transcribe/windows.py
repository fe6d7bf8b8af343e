"""Pack the speech clips of a call into as few Whisper windows as they fit, and map times back.

Whisper's encoder always reads 30 s. Decoding each VAD clip as its own window made a call of N
turns cost N encoder passes; packed in time order with a little silence between them, the
clips of both channels share windows (the 72 s two-channel test call: 12 windows -> 3). Every
clip keeps its place in the window as a :class:`Placement`, so a word decoded at a window time
goes back to its clip's channel (the speaker) and its original time.

Pure: no model. :func:`window_samples` lays a planned window out in samples, :func:`to_source`
maps a decoded segment back to its clips, :func:`unheard` names the clips the model skipped.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from callscribe.schema import Segment, Speaker, Word
from callscribe.transcribe.postprocess import (
    RawSegment,
    remove_spaces_between_han,
    repair_broken_punctuation,
)

__all__ = [
    "GAP_S",
    "MAX_WINDOW_S",
    "TOUCH_S",
    "ClipSpan",
    "Placement",
    "Window",
    "clips_from_flat",
    "plan_windows",
    "to_source",
    "unheard",
    "window_samples",
]

MAX_WINDOW_S = 29.0
"""Seconds of audio in one window: under Whisper's 30 s, so the last clip's end is never cut
off by the encoder's fixed input length."""

GAP_S = 0.5
"""Seconds of silence laid between two clips in a window: long enough for Whisper to end a
segment there, short enough to waste little of the window."""


TOUCH_S = 0.01
"""Seconds between two clips of one channel at or under which they are one stretch of speech."""


@dataclass(frozen=True)
class ClipSpan:
    """One stretch of speech on one channel, in that channel's original seconds."""

    channel: int
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Placement:
    """Where a clip (or a piece of a clip too long for one window) sits in its window."""

    channel: int
    source_start: float
    source_end: float
    window_start: float

    @property
    def duration(self) -> float:
        return self.source_end - self.source_start

    @property
    def window_end(self) -> float:
        return self.window_start + self.duration

    def distance(self, t: float) -> float:
        """Seconds from window time ``t`` to this placement's span (0 inside it)."""
        return max(self.window_start - t, t - self.window_end, 0.0)

    def to_source(self, t: float) -> float:
        """Window time ``t`` as the channel's original time, clamped into the clip."""
        return min(
            max(self.source_start + (t - self.window_start), self.source_start), self.source_end
        )


@dataclass(frozen=True)
class Window:
    """One decode: its placements in window order and its length in seconds."""

    index: int
    placements: tuple[Placement, ...]
    duration: float

    def placement_at(self, t: float) -> Placement:
        """The placement holding window time ``t``; in a gap, the nearest one (earlier on a tie)."""
        return min(self.placements, key=lambda p: p.distance(t))

    def to_source(self, start: float, end: float) -> tuple[Placement, float, float]:
        """A span decoded at window times -> (its placement, original start, original end).

        The placement is chosen by the span's midpoint, so a word that Whisper stretched into
        the silence after its clip still goes back to that clip.
        """
        placement = self.placement_at((start + end) / 2)
        return placement, placement.to_source(start), placement.to_source(end)


def clips_from_flat(channel: int, flat: Sequence[float]) -> list[ClipSpan]:
    """``[s0, e0, s1, e1, ...]`` (the VAD's form) as spans of ``channel``; empty spans dropped."""
    return [
        ClipSpan(channel, float(s), float(e))
        for s, e in zip(flat[0::2], flat[1::2], strict=True)
        if e > s
    ]


def plan_windows(
    clips: Iterable[ClipSpan], *, max_window_s: float = MAX_WINDOW_S, gap_s: float = GAP_S
) -> list[Window]:
    """Pack clips in time order (start, then channel) into windows of at most ``max_window_s``.

    A clip is never split across windows unless it is longer than a window; then it is cut
    into equal pieces of at most ``max_window_s``, each placed whole. Clips of one channel that
    touch (within :data:`TOUCH_S`) are placed as one while that fits in a window. Clips of the
    two channels that overlap in time are both placed (one after the other), so neither party
    is lost.

    Raises:
        ValueError: ``max_window_s`` is not positive, or ``gap_s`` is negative.
    """
    if max_window_s <= 0 or gap_s < 0:
        raise ValueError(f"max_window_s must be > 0 and gap_s >= 0, got {max_window_s}, {gap_s}")
    pieces = sorted(
        (
            piece
            for clip in _join_touching(clips, max_window_s)
            for piece in _pieces(clip, max_window_s)
        ),
        key=lambda c: (c.start, c.channel, c.end),
    )
    windows: list[Window] = []
    placed: list[Placement] = []
    cursor = 0.0
    for piece in pieces:
        start = cursor + gap_s if placed else 0.0
        if placed and start + piece.duration > max_window_s:
            windows.append(Window(len(windows), tuple(placed), cursor))
            placed, start = [], 0.0
        placed.append(Placement(piece.channel, piece.start, piece.end, start))
        cursor = start + piece.duration
    if placed:
        windows.append(Window(len(windows), tuple(placed), cursor))
    return windows


def _join_touching(clips: Iterable[ClipSpan], max_window_s: float) -> list[ClipSpan]:
    """Clips of one channel that touch or overlap, joined while they fit in a window.

    The VAD pads each clip, so a pause shorter than twice the padding leaves two clips that
    touch: one speaker's sentence cut in two. Placed apart (with a gap, maybe in two windows)
    the model lost the shorter half (the stereo fixture's agent at 22.6 s: "茶梨为山茶科").
    """
    out: list[ClipSpan] = []
    for clip in sorted(clips, key=lambda c: (c.channel, c.start, c.end)):
        last = out[-1] if out else None
        if (
            last is not None
            and last.channel == clip.channel
            and clip.start <= last.end + TOUCH_S
            and max(clip.end, last.end) - last.start <= max_window_s
        ):
            out[-1] = ClipSpan(clip.channel, last.start, max(clip.end, last.end))
        else:
            out.append(clip)
    return out


def _pieces(clip: ClipSpan, max_window_s: float) -> list[ClipSpan]:
    if clip.duration <= max_window_s:
        return [clip]
    count = math.ceil(clip.duration / max_window_s)
    step = clip.duration / count
    bounds = [clip.start + i * step for i in range(count)] + [clip.end]
    return [ClipSpan(clip.channel, a, b) for a, b in zip(bounds, bounds[1:], strict=False)]


def unheard(window: Window, raw_segments: Iterable[RawSegment]) -> list[Placement]:
    """The placements of ``window`` that no decoded word (or word-less segment) falls in."""
    heard: set[int] = set()
    for raw in raw_segments:
        spans = [(w.start, w.end) for w in raw.words] if raw.words else [(raw.start, raw.end)]
        for start, end in spans:
            heard.add(id(window.placement_at((start + end) / 2)))
    return [p for p in window.placements if id(p) not in heard]


def to_source(
    segment: Segment, window: Window, speakers: Sequence[Speaker | None]
) -> list[Segment]:
    """A segment decoded in ``window`` as pieces of its clips: speaker and original times.

    Each word goes to the clip under its midpoint (:meth:`Window.to_source`); consecutive words
    of one clip make one piece. A segment without words goes whole, by its midpoint.
    """
    if not segment.words:
        placement, start, end = window.to_source(segment.start, segment.end)
        return [
            dataclasses.replace(
                segment, start=start, end=end, speaker=speakers[placement.channel], words=None
            )
        ]
    groups: list[tuple[Placement, list[Word]]] = []
    for word in segment.words:
        placement, start, end = window.to_source(word.start, word.end)
        mapped = Word(
            start=start,
            end=end,
            word=repair_broken_punctuation(word.word),
            probability=word.probability,
        )
        if groups and groups[-1][0] is placement:
            groups[-1][1].append(mapped)
        else:
            groups.append((placement, [mapped]))
    return [
        dataclasses.replace(
            segment,
            start=words[0].start,
            end=words[-1].end,
            text=remove_spaces_between_han("".join(w.word for w in words).strip()),
            speaker=speakers[placement.channel],
            words=words,
        )
        for placement, words in groups
    ]


def window_samples(
    window: Window, channels: Sequence[npt.NDArray[np.float32]], sample_rate: int = 16_000
) -> npt.NDArray[np.float32]:
    """The window's audio: each placement's samples at its window offset, silence between."""
    out = np.zeros(round(window.duration * sample_rate), dtype=np.float32)
    for p in window.placements:
        source = channels[p.channel]
        first = round(p.source_start * sample_rate)
        count = round(p.source_end * sample_rate) - first
        offset = round(p.window_start * sample_rate)
        count = max(0, min(count, len(source) - first, len(out) - offset))
        out[offset : offset + count] = source[first : first + count]
    return out
