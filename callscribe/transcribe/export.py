"""Transcript exports for QA tools: JSON (our contract), SRT and WebVTT subtitles, plain text."""

from __future__ import annotations

import json

from callscribe.schema import Segment, Transcript

__all__ = ["FORMATS", "export_transcript", "to_json", "to_srt", "to_text", "to_vtt"]

FORMATS = ("json", "srt", "vtt", "text")

_SPEAKER_LABELS = {"agent": "坐席", "caller": "来电人"}


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cue_text(segment: Segment) -> str:
    label = _SPEAKER_LABELS.get(segment.speaker or "")
    return f"{label}：{segment.text}" if label else segment.text


def to_json(transcript: Transcript, *, words: bool = False) -> str:
    """The ``transcribe --json`` shape, indented, Chinese kept as is."""
    return json.dumps(transcript.to_dict(words=words), ensure_ascii=False, indent=2)


def to_srt(transcript: Transcript) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm`` times, a blank line after each cue."""
    cues = [
        f"{i}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{_cue_text(s)}\n"
        for i, s in enumerate(transcript.segments, start=1)
    ]
    return "\n".join(cues)


def to_vtt(transcript: Transcript) -> str:
    """WebVTT: a ``WEBVTT`` header, ``HH:MM:SS.mmm`` times, speakers as voice tags."""
    lines = ["WEBVTT", ""]
    for segment in transcript.segments:
        lines.append(f"{_timestamp(segment.start, '.')} --> {_timestamp(segment.end, '.')}")
        voice = _SPEAKER_LABELS.get(segment.speaker or "")
        lines.append(f"<v {voice}>{segment.text}" if voice else segment.text)
        lines.append("")
    return "\n".join(lines)


def to_text(transcript: Transcript) -> str:
    """One line per segment: times, speaker, text."""
    lines = []
    for s in transcript.segments:
        who = f"{s.speaker}: " if s.speaker else ""
        lines.append(f"[{s.start:7.2f} -> {s.end:7.2f}] {who}{s.text}")
    return "\n".join(lines)


def export_transcript(transcript: Transcript, fmt: str, *, words: bool = False) -> str:
    """Render ``transcript`` in one of :data:`FORMATS`."""
    if fmt == "json":
        return to_json(transcript, words=words)
    if fmt == "srt":
        return to_srt(transcript)
    if fmt == "vtt":
        return to_vtt(transcript)
    if fmt == "text":
        return to_text(transcript)
    raise ValueError(f"unknown transcript format {fmt!r}; choose one of {', '.join(FORMATS)}")
