"""Transcription stage: Whisper engines, model resolution, Mandarin post-processing."""

from __future__ import annotations

from callscribe.transcribe.engine import (
    FasterWhisperEngine,
    TranscribeOptions,
    Transcriber,
    model_load_count,
)
from callscribe.transcribe.loader import load_transcriber
from callscribe.transcribe.model import resolve_model_dir

__all__ = [
    "FasterWhisperEngine",
    "TranscribeOptions",
    "Transcriber",
    "load_transcriber",
    "model_load_count",
    "resolve_model_dir",
]
