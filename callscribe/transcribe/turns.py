"""Merge the per-channel segments of a two-channel call into one transcript, turn by turn.

Whisper decodes each channel on its own and sees one party's speech with the other party's
turns as silence. When it decoded a channel as one VAD-collapsed stream (the walking
skeleton's engine), it wrote segments across several of that party's turns: on the 8 kHz
stereo fixture the agent's first segment ran from 0.2 s to 18.8 s over three turns, and
sorting segments by start put the caller's whole side after it (character error rate 0.83
against the reference in turn order, instead of 0.27). Decoding each VAD clip on its own
(the engine now does) keeps a segment inside one clip, so only a turn shorter than a clip's
inner pause (about 1.3 s) can still be swallowed.

So: segments that carry word timings (``TranscribeOptions.split_turns_on_words`` or
``word_timestamps``) are cut wherever their words pause; the pieces of both channels are
ordered by speech onset; consecutive pieces of one speaker are joined back into one turn.
"""

from __future__ import annotations

from collections.abc import Iterable

from callscribe.schema import Segment, Word

__all__ = ["SPLIT_GAP_S", "merge_channel_segments", "split_at_pauses", "turn_order"]

SPLIT_GAP_S = 0.35
"""Seconds of silence between two words at which a segment may hold two turns."""

_CLOSING = "。！？，、；：,.!?;:"


def merge_channel_segments(
    per_channel: list[list[Segment]], *, split_gap_s: float = SPLIT_GAP_S
) -> list[Segment]:
    """One transcript in true time order from the segments of each channel.

    Segments with word timings are cut at pauses of ``split_gap_s`` or more; segments without
    word timings are kept whole (the order is then only as good as the segment starts). A
    single channel comes back unchanged.
    """
    if len(per_channel) <= 1:
        return [segment for channel in per_channel for segment in channel]
    pieces = [
        piece
        for channel in per_channel
        for segment in channel
        for piece in split_at_pauses(segment, split_gap_s)
    ]
    pieces.sort(key=lambda s: (s.start, s.end))
    return _join_runs(pieces)


def split_at_pauses(segment: Segment, gap_s: float = SPLIT_GAP_S) -> list[Segment]:
    """The segment cut into pieces wherever its words pause for ``gap_s`` seconds or more."""
    words = [w for w in segment.words or [] if w.word.strip()]
    if len(words) < 2:
        return [segment]
    groups: list[list[Word]] = [[words[0]]]
    for word in words[1:]:
        if word.start - groups[-1][-1].end >= gap_s:
            groups.append([word])
        else:
            groups[-1].append(word)
    if len(groups) == 1:
        return [segment]
    return [_piece(segment, group) for group in groups]


def turn_order(segments: Iterable[Segment]) -> list[str | None]:
    """The sequence of speakers, consecutive repeats collapsed (for tests and measurements)."""
    order: list[str | None] = []
    for segment in segments:
        if not order or order[-1] != segment.speaker:
            order.append(segment.speaker)
    return order


def _piece(parent: Segment, words: list[Word]) -> Segment:
    text = "".join(w.word for w in words).strip()
    return Segment(
        start=words[0].start,
        end=words[-1].end,
        text=text,
        speaker=parent.speaker,
        confidence=parent.confidence,
        words=words,
        avg_logprob=parent.avg_logprob,
        no_speech_prob=parent.no_speech_prob,
    )


def _join_runs(pieces: list[Segment]) -> list[Segment]:
    """Join consecutive pieces of the same speaker back into one segment."""
    out: list[Segment] = []
    for piece in pieces:
        last = out[-1] if out else None
        if last is None or last.speaker != piece.speaker:
            out.append(piece)
            continue
        words = (last.words or []) + (piece.words or []) if last.words or piece.words else None
        out[-1] = Segment(
            start=last.start,
            end=max(last.end, piece.end),
            text=_join_text(last.text, piece.text),
            speaker=last.speaker,
            confidence=min(last.confidence, piece.confidence),
            words=words,
            avg_logprob=last.avg_logprob,
            no_speech_prob=last.no_speech_prob,
        )
    return [_with_final_stop(s) for s in out]


def _join_text(left: str, right: str) -> str:
    if not left or left[-1] in _CLOSING:
        return left + right
    return f"{left}，{right}"


def _with_final_stop(segment: Segment) -> Segment:
    if segment.text and segment.text[-1] not in _CLOSING:
        segment.text += "。"
    return segment
