"""Whisper engines behind one small protocol, so the pipeline never depends on one of them."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from callscribe import defaults
from callscribe.errors import ModelError
from callscribe.schema import CallAudio, Segment, Speaker, Transcript, Word
from callscribe.transcribe.postprocess import (
    add_final_punctuation,
    is_hallucination,
    to_simplified,
)
from callscribe.transcribe.turns import merge_channel_segments

__all__ = [
    "FasterWhisperEngine",
    "TranscribeOptions",
    "Transcriber",
    "model_load_count",
]

log = logging.getLogger(__name__)

DEFAULT_PROMPT = "您好，这里是北京12345市民服务热线。请问您反映什么问题？"

_loads = 0
_loads_lock = threading.Lock()


def model_load_count() -> int:
    """How many times this process has loaded a Whisper model (the worker's test reads it)."""
    return _loads


def _count_load() -> None:
    global _loads
    with _loads_lock:
        _loads += 1


@dataclass(frozen=True)
class TranscribeOptions:
    """How Whisper decodes a call. Frozen: one instance is shared by every job of a worker."""

    # decoding
    language: str = defaults.WHISPER_LANGUAGE
    beam_size: int = defaults.BEAM_SIZE
    initial_prompt: str | None = DEFAULT_PROMPT
    condition_on_previous_text: bool = False
    word_timestamps: bool = False
    # hallucination gates
    vad_filter: bool = True
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0


class Transcriber(Protocol):
    """Anything that turns a decoded call into a transcript."""

    name: str

    def transcribe(self, audio: CallAudio) -> Transcript: ...


class FasterWhisperEngine:
    """faster-whisper (CTranslate2): int8 on CPU, float16 on CUDA. Loads its model once."""

    name = "faster-whisper"

    def __init__(
        self,
        model_dir: Path,
        *,
        device: str = "auto",
        compute_type: str = "default",
        cpu_threads: int = 0,
        options: TranscribeOptions | None = None,
    ) -> None:
        from faster_whisper import WhisperModel

        self.model_dir = model_dir
        self.options = options or TranscribeOptions()
        resolved_device = _resolve_device(device)
        if compute_type == "default":
            compute_type = "float16" if resolved_device == "cuda" else "int8"
        started = time.perf_counter()
        try:
            self._model = WhisperModel(
                str(model_dir),
                device=resolved_device,
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as err:
            raise ModelError(f"cannot load Whisper model from {model_dir}: {err}") from err
        _count_load()
        self.device = resolved_device
        self.compute_type = compute_type
        log.info(
            "loaded Whisper model %s on %s (%s) in %.1fs",
            model_dir.name,
            resolved_device,
            compute_type,
            time.perf_counter() - started,
        )

    def transcribe(self, audio: CallAudio) -> Transcript:
        per_channel = [
            self.transcribe_channel(channel, speaker)
            for channel, speaker in zip(audio.channels, audio.speakers, strict=True)
        ]
        segments = merge_channel_segments(per_channel)
        return Transcript(
            duration=audio.duration,
            segments=segments,
            language=self.options.language,
            engine=self.name,
            model=self.model_dir.name,
        )

    def transcribe_channel(
        self, samples: npt.NDArray[np.float32], speaker: Speaker | None
    ) -> list[Segment]:
        opts = self.options
        raw_segments, _info = self._model.transcribe(
            samples,
            language=opts.language,
            task="transcribe",
            beam_size=opts.beam_size,
            initial_prompt=opts.initial_prompt,
            condition_on_previous_text=opts.condition_on_previous_text,
            word_timestamps=opts.word_timestamps,
            vad_filter=opts.vad_filter,
            no_speech_threshold=opts.no_speech_threshold,
            log_prob_threshold=opts.log_prob_threshold,
        )
        out: list[Segment] = []
        for raw in raw_segments:
            segment = _to_segment(raw, speaker, opts)
            if segment is not None:
                out.append(segment)
        return out


def _to_segment(raw: Any, speaker: Speaker | None, opts: TranscribeOptions) -> Segment | None:
    text = to_simplified(str(raw.text).strip())
    if not text or is_hallucination(text):
        return None
    if raw.no_speech_prob > opts.no_speech_threshold and raw.avg_logprob < opts.log_prob_threshold:
        return None
    words = None
    if raw.words is not None:
        words = [
            Word(
                start=float(w.start),
                end=float(w.end),
                word=to_simplified(w.word),
                probability=float(w.probability),
            )
            for w in raw.words
        ]
    return Segment(
        start=float(raw.start),
        end=float(raw.end),
        text=add_final_punctuation(text),
        speaker=speaker,
        confidence=min(1.0, max(0.0, math.exp(float(raw.avg_logprob)))),
        words=words,
        avg_logprob=float(raw.avg_logprob),
        no_speech_prob=float(raw.no_speech_prob),
    )


def _resolve_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except (ImportError, RuntimeError):
        return "cpu"
