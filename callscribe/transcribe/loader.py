"""Build the configured transcriber once per process."""

from __future__ import annotations

import functools
from pathlib import Path

from callscribe.errors import ConfigurationError
from callscribe.transcribe.engine import FasterWhisperEngine, TranscribeOptions, Transcriber
from callscribe.transcribe.model import resolve_model_dir

__all__ = ["load_transcriber"]


@functools.cache
def load_transcriber(
    engine: str,
    model: str | None,
    cache_dir: Path,
    device: str = "auto",
    compute_type: str = "default",
    cpu_threads: int = 0,
    options: TranscribeOptions | None = None,
) -> Transcriber:
    """Return the process-wide transcriber for these settings, loading the model on first use."""
    if engine == "faster-whisper":
        return FasterWhisperEngine(
            resolve_model_dir(model, cache_dir),
            device=device,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            options=options,
        )
    raise ConfigurationError(f"CALLSCRIBE_ENGINE: unknown engine {engine!r}")
