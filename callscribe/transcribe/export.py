"""Transcript exports for QA tools: JSON (our contract), SRT and WebVTT subtitles, plain text.

The formats live in :mod:`callscribe.subtitles`, shared with the audit page's exports; this
module keeps the names ``callscribe transcribe --format`` has always imported.
"""

from __future__ import annotations

from callscribe.subtitles import FORMATS, export_transcript, to_json, to_srt, to_text, to_vtt

__all__ = ["FORMATS", "export_transcript", "to_json", "to_srt", "to_text", "to_vtt"]
