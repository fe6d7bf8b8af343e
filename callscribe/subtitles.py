"""Transcripts as files for QA tools: JSON (our contract), SRT and WebVTT subtitles, plain text.

The one implementation of these formats: ``callscribe transcribe --format`` (through
:mod:`callscribe.transcribe.export`) and the audit page's exports both render with it. It knows
only :mod:`callscribe.schema`, so the transcription stage and the web app may both import it.

A cue is one line: newlines inside a segment's text (a QA correction may hold some) become
spaces, since a blank line would end an SRT cue early. WebVTT cue text escapes ``&``, ``<`` and
``>`` as the format requires, so text such as ``<script>`` stays text in a player.
"""

from __future__ import annotations

import json
import re

from callscribe.schema import Segment, Transcript

__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "MEDIA_TYPES",
    "export_transcript",
    "to_json",
    "to_srt",
    "to_text",
    "to_vtt",
]

FORMATS = ("json", "srt", "vtt", "text")

EXTENSIONS = {"json": "json", "srt": "srt", "vtt": "vtt", "text": "txt"}
"""The file name extension of each format."""

MEDIA_TYPES = {
    "json": "application/json",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "text": "text/plain; charset=utf-8",
}
"""The Content-Type of each format."""

_SPEAKER_LABELS = {"agent": "坐席", "caller": "来电人"}
_LINE_BREAKS = re.compile(r"\s*[\r\n\u2028\u2029]+\s*")


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _one_line(text: str) -> str:
    return _LINE_BREAKS.sub(" ", text).strip()


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cue_text(segment: Segment) -> str:
    label = _SPEAKER_LABELS.get(segment.speaker or "")
    text = _one_line(segment.text)
    return f"{label}：{text}" if label else text


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
        text = _vtt_escape(_one_line(segment.text))
        lines.append(f"<v {voice}>{text}" if voice else text)
        lines.append("")
    return "\n".join(lines)


def to_text(transcript: Transcript) -> str:
    """One line per segment: times, speaker, text."""
    lines = []
    for s in transcript.segments:
        who = f"{s.speaker}: " if s.speaker else ""
        lines.append(f"[{s.start:7.2f} -> {s.end:7.2f}] {who}{_one_line(s.text)}")
    return "\n".join(lines)


def export_transcript(transcript: Transcript, fmt: str, *, words: bool = False) -> str:
    """Render ``transcript`` in one of :data:`FORMATS` (``words`` applies to JSON only).

    Raises:
        ValueError: ``fmt`` is not one of :data:`FORMATS`.
    """
    if fmt == "json":
        return to_json(transcript, words=words)
    if fmt == "srt":
        return to_srt(transcript)
    if fmt == "vtt":
        return to_vtt(transcript)
    if fmt == "text":
        return to_text(transcript)
    raise ValueError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
