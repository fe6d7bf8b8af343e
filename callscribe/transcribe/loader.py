"""Build the configured transcriber once per process."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from callscribe.errors import ConfigurationError
from callscribe.transcribe.engine import FasterWhisperEngine, TranscribeOptions, Transcriber
from callscribe.transcribe.model import resolve_model_dir
from callscribe.transcribe.prompt import build_initial_prompt

if TYPE_CHECKING:
    from callscribe.settings import Settings

__all__ = ["load_transcriber", "options_from_settings", "transcriber_from_settings"]


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
    """Return the process-wide transcriber for these settings, loading the model on first use.

    Args:
        engine: ``faster-whisper`` (default) or ``openai`` (the PyTorch reference engine).
        model: ``CALLSCRIBE_MODEL``: a CTranslate2 directory for either engine (the openai
            engine converts it once), or an openai-whisper ``.pt`` checkpoint for ``openai``.
    """
    if engine == "faster-whisper":
        return FasterWhisperEngine(
            resolve_model_dir(model, cache_dir),
            device=device,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            options=options,
        )
    if engine == "openai":
        from callscribe.transcribe.convert import ensure_openai_checkpoint
        from callscribe.transcribe.openai_engine import OpenAIWhisperEngine

        if model is not None and Path(model).expanduser().is_file():
            checkpoint = Path(model).expanduser()
        else:
            model_dir = resolve_model_dir(model, cache_dir)
            checkpoint = ensure_openai_checkpoint(model_dir, model_dir.parent)
        fp16 = None if compute_type == "default" else compute_type == "float16"
        return OpenAIWhisperEngine(
            checkpoint, device=device, fp16=fp16, cpu_threads=cpu_threads, options=options
        )
    raise ConfigurationError(f"CALLSCRIBE_ENGINE: unknown engine {engine!r}")


def options_from_settings(settings: Settings) -> TranscribeOptions:
    """Decoding options as the settings ask for them (prompt, vocabulary, beam size, batch)."""
    return TranscribeOptions(
        beam_size=settings.beam_size,
        batch_size=settings.batch_size,
        rehear_digits=settings.rehear_digits,
        rehear_names=settings.rehear_names,
        initial_prompt=build_initial_prompt(
            settings.prompt or None,
            use_vocabulary=settings.use_vocabulary,
            vocabulary_file=settings.vocabulary_file,
        ),
    )


def transcriber_from_settings(settings: Settings) -> Transcriber:
    """The process-wide transcriber the settings describe.

    Every call is decoded with word timings, which place each word's speaker and punctuation.
    """
    return load_transcriber(
        settings.engine,
        settings.model,
        settings.cache_dir,
        settings.device,
        settings.compute_type,
        settings.cpu_threads,
        options_from_settings(settings),
    )
