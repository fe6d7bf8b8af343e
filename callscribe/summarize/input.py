"""Read a transcript given to `callscribe extract`: our JSON shape, or plain text."""

from __future__ import annotations

import json
from pathlib import Path

from callscribe.errors import TranscriptInputError
from callscribe.schema import Segment, Transcript

__all__ = ["read_transcript_file"]


def read_transcript_file(path: Path) -> Transcript:
    """Load ``path`` as transcript JSON, or as plain text (one segment per non-empty line).

    Raises:
        TranscriptInputError: the file is missing, not UTF-8, or JSON of another shape.
    """
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise TranscriptInputError(f"{path.name}: no such file") from err
    except UnicodeDecodeError as err:
        raise TranscriptInputError(f"{path.name}: not UTF-8 text") from err
    stripped = raw.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as err:
            raise TranscriptInputError(f"{path.name}: invalid JSON: {err}") from err
        if not isinstance(data.get("segments"), list):
            if isinstance(data.get("text"), str):
                return _from_text(data["text"])
            raise TranscriptInputError(f"{path.name}: JSON has no 'segments' list or 'text'")
        try:
            return Transcript.from_dict(data)
        except (TypeError, ValueError, AttributeError) as err:
            raise TranscriptInputError(f"{path.name}: malformed segment: {err}") from err
    return _from_text(raw)


def _from_text(text: str) -> Transcript:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    segments = [
        Segment(start=float(i), end=float(i + 1), text=line) for i, line in enumerate(lines)
    ]
    return Transcript(duration=float(len(lines)), segments=segments)
