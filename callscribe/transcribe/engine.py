"""Whisper engines behind one small protocol, so the pipeline never depends on one of them."""

from __future__ import annotations

import abc
import copy
import dataclasses
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from callscribe import defaults
from callscribe.errors import ModelError
from callscribe.schema import CallAudio, Segment, Speaker, Transcript, Word
from callscribe.transcribe.postprocess import (
    RawSegment,
    clean_segment,
    drop_repeated_segments,
    end_sentences,
)
from callscribe.transcribe.prompt import DEFAULT_PROMPT
from callscribe.transcribe.turns import merge_channel_segments
from callscribe.transcribe.vad import speech_clips

__all__ = [
    "DEFAULT_PROMPT",
    "ChannelEngine",
    "FasterWhisperEngine",
    "TranscribeOptions",
    "Transcriber",
    "count_model_load",
    "model_load_count",
    "resolve_device",
]

log = logging.getLogger(__name__)

_loads = 0
_loads_lock = threading.Lock()


def model_load_count() -> int:
    """How many times this process has loaded a Whisper model (the worker's test reads it)."""
    return _loads


def count_model_load() -> None:
    """Record one model load (both engines call it)."""
    global _loads
    with _loads_lock:
        _loads += 1


@dataclass(frozen=True)
class TranscribeOptions:
    """How Whisper decodes a call, shared by both engines. Frozen: one instance serves every job.

    The defaults are the measured best for the packaged base model (docs/benchmarks.md).
    """

    # decoding
    language: str = defaults.WHISPER_LANGUAGE
    beam_size: int = defaults.BEAM_SIZE
    patience: float = 1.0
    initial_prompt: str | None = DEFAULT_PROMPT
    condition_on_previous_text: bool = False
    word_timestamps: bool = False
    split_turns_on_words: bool = False
    """Decode two-channel calls with word timings so turns.py can cut a segment at a pause in
    which the other party spoke. Off: it doubles the CPU time of a stereo call (measured, see
    docs/benchmarks.md), and decoding each VAD clip on its own already keeps turns apart."""
    temperature: tuple[float, ...] = defaults.TEMPERATURES
    seed: int = 0
    """Seed of the sampling used by temperature fallback, set before every channel is decoded,
    so a call transcribes the same however many calls the process decoded before it."""
    compression_ratio_threshold: float | None = 2.4
    # hallucination gates
    vad_filter: bool = True
    vad_threshold: float = 0.5
    vad_min_silence_ms: int = 500
    vad_speech_pad_ms: int = 400
    vad_max_clip_s: float = 30.0
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0

    def clips(self, samples: npt.NDArray[np.float32]) -> list[float] | None:
        """The speech clips to decode (flat start/end seconds); None decodes everything."""
        if not self.vad_filter:
            return None
        return speech_clips(
            samples,
            threshold=self.vad_threshold,
            min_silence_ms=self.vad_min_silence_ms,
            speech_pad_ms=self.vad_speech_pad_ms,
            max_clip_s=self.vad_max_clip_s,
        )


class Transcriber(Protocol):
    """Anything that turns a decoded call into a transcript."""

    name: str

    def transcribe(self, audio: CallAudio) -> Transcript: ...


class ChannelEngine(abc.ABC):
    """What both engines share: each channel decoded on its own, cleaned, then merged by turn.

    Cleaning is per segment (:func:`clean_segment`), then per channel: a sentence repeated
    segment after segment is a loop (:func:`drop_repeated_segments`), and a segment cut at a
    short pause ends in "，" rather than "。" (:func:`end_sentences`).

    Subclasses say how one channel is decoded (:meth:`decode_channel`); the clean-up and the
    turn merging are the same for every engine, so the engines differ only in the model.
    """

    name: str
    options: TranscribeOptions

    @property
    @abc.abstractmethod
    def model_name(self) -> str:
        """The model's name as transcripts record it."""

    @abc.abstractmethod
    def decode_channel(
        self, samples: npt.NDArray[np.float32], clips: list[float] | None
    ) -> Iterable[RawSegment]:
        """Whisper's raw segments for one channel (only the ``clips`` spans, when given)."""

    def transcribe(self, audio: CallAudio) -> Transcript:
        engine = self
        if len(audio.channels) > 1 and self.options.split_turns_on_words:
            engine = copy.copy(self)
            engine.options = dataclasses.replace(self.options, word_timestamps=True)
        per_channel = [
            engine.transcribe_channel(channel, speaker)
            for channel, speaker in zip(audio.channels, audio.speakers, strict=True)
        ]
        return Transcript(
            duration=audio.duration,
            segments=merge_channel_segments(per_channel),
            language=self.options.language,
            engine=self.name,
            model=self.model_name,
        )

    def transcribe_channel(
        self, samples: npt.NDArray[np.float32], speaker: Speaker | None
    ) -> list[Segment]:
        opts = self.options
        clips = opts.clips(samples)
        if clips is not None and not clips:
            return []
        out: list[Segment] = []
        for raw in self.decode_channel(samples, clips):
            segment = clean_segment(
                raw,
                speaker,
                no_speech_threshold=opts.no_speech_threshold,
                log_prob_threshold=opts.log_prob_threshold,
                prompt=opts.initial_prompt,
                final_punctuation=False,
            )
            if segment is not None:
                out.append(segment)
        return end_sentences(drop_repeated_segments(out))


class FasterWhisperEngine(ChannelEngine):
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
        resolved_device = resolve_device(device)
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
        count_model_load()
        self.device = resolved_device
        self.compute_type = compute_type
        log.info(
            "loaded Whisper model %s on %s (%s) in %.1fs",
            model_dir.name,
            resolved_device,
            compute_type,
            time.perf_counter() - started,
        )

    @property
    def model_name(self) -> str:
        return self.model_dir.name

    def decode_channel(
        self, samples: npt.NDArray[np.float32], clips: list[float] | None
    ) -> Iterator[RawSegment]:
        import ctranslate2

        opts = self.options
        ctranslate2.set_random_seed(opts.seed)
        raw_segments, _info = self._model.transcribe(
            samples,
            language=opts.language,
            task="transcribe",
            beam_size=opts.beam_size,
            best_of=opts.beam_size,
            patience=opts.patience,
            temperature=list(opts.temperature),
            compression_ratio_threshold=opts.compression_ratio_threshold,
            initial_prompt=opts.initial_prompt,
            condition_on_previous_text=opts.condition_on_previous_text,
            word_timestamps=opts.word_timestamps,
            vad_filter=False,
            clip_timestamps=clips if clips is not None else "0",
            no_speech_threshold=opts.no_speech_threshold,
            log_prob_threshold=opts.log_prob_threshold,
        )
        for raw in raw_segments:
            yield _raw_segment(raw)


def _raw_segment(raw: Any) -> RawSegment:
    words = None
    if raw.words is not None:
        words = tuple(
            Word(
                start=float(w.start),
                end=float(w.end),
                word=str(w.word),
                probability=float(w.probability),
            )
            for w in raw.words
        )
    return RawSegment(
        start=float(raw.start),
        end=float(raw.end),
        text=str(raw.text),
        avg_logprob=float(raw.avg_logprob),
        no_speech_prob=float(raw.no_speech_prob),
        compression_ratio=float(raw.compression_ratio),
        words=words,
    )


def resolve_device(device: str) -> str:
    """Turn ``auto`` into ``cuda`` when CTranslate2 sees a GPU, else ``cpu``."""
    if device != "auto":
        return device
    try:
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except (ImportError, RuntimeError):
        return "cpu"
