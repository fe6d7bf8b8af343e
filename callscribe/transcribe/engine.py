"""Whisper engines behind one small protocol, so the pipeline never depends on one of them."""

from __future__ import annotations

import abc
import dataclasses
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from callscribe import defaults
from callscribe.errors import ModelError
from callscribe.schema import CallAudio, Segment, Transcript, Word
from callscribe.transcribe.postprocess import (
    RawSegment,
    clean_segment,
    drop_repeated_segments,
    remove_spaces_between_han,
    to_simplified,
)
from callscribe.transcribe.rehear import rehear_digits, rehear_name_answers
from callscribe.transcribe.turns import build_turns
from callscribe.transcribe.vad import speech_clips
from callscribe.transcribe.windows import (
    GAP_S,
    MAX_WINDOW_S,
    ClipSpan,
    Placement,
    Window,
    clips_from_flat,
    plan_windows,
    to_source,
    unheard,
    window_samples,
)

__all__ = [
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
    initial_prompt: str | None = None
    """None by default: measured, the hotline prompt cost accuracy (issue 13); punctuation now
    comes from the pauses (transcribe/punctuate.py) and Simplified characters from OpenCC."""
    condition_on_previous_text: bool = False
    temperature: tuple[float, ...] = defaults.TEMPERATURES
    seed: int = 0
    """Seed of the sampling used by temperature fallback, set before every window is decoded,
    so a call transcribes the same however many calls the process decoded before it."""
    compression_ratio_threshold: float | None = 2.4
    # packing (transcribe/windows.py)
    max_window_s: float = MAX_WINDOW_S
    window_gap_s: float = GAP_S
    batch_size: int = defaults.BATCH_SIZE
    """Windows decoded at once by faster-whisper's ``BatchedInferencePipeline`` (at the first
    temperature only); 1 decodes them one after the other with temperature fallback."""
    # hallucination gates
    vad_filter: bool = True
    vad_threshold: float = 0.5
    vad_min_silence_ms: int = 500
    vad_speech_pad_ms: int = 400
    vad_max_clip_s: float = MAX_WINDOW_S
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    # second hearings (transcribe/rehear.py)
    rehear_digits: bool = True
    """Decode each spoken number again alone, as evidence for the callback-number rules."""
    rehear_names: bool = True
    """Decode the caller's answer to the name question again alone, for the name rules."""

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
    """What both engines share: the speech of every channel packed into windows, decoded with
    word timings, cleaned, mapped back to its speaker and time, and merged by turn.

    The VAD finds the speech clips of each channel; :func:`plan_windows` packs the clips of all
    channels, in time order, into windows of at most ``max_window_s``; the windows are laid out
    (:func:`window_samples`) and decoded ``batch_size`` at a time, so a long call costs memory
    for its channels and one batch of windows, never for all its features. Each decoded segment is
    cleaned (:func:`clean_segment`; a sentence repeated segment after segment is a loop,
    :func:`drop_repeated_segments`), then cut by word into the clips it came from; the turns and
    their punctuation come from the word timings (transcribe/turns.py, transcribe/punctuate.py).

    Subclasses say how one window is decoded (:meth:`decode_window`); the rest is the same for
    every engine, so the engines differ only in the model.
    """

    name: str
    options: TranscribeOptions

    @property
    @abc.abstractmethod
    def model_name(self) -> str:
        """The model's name as transcripts record it."""

    @abc.abstractmethod
    def decode_window(
        self, samples: npt.NDArray[np.float32], *, prompt: str | None = None, words: bool = True
    ) -> Iterable[RawSegment]:
        """Whisper's raw segments, with word timings, for one window of at most 30 s.

        ``prompt`` replaces the options' initial prompt for this window only ("" for none);
        ``words=False`` skips the word timings (a second hearing needs only the text, and the
        timings cost about four times the decoding of a short clip).
        """

    def decode_windows(
        self, channels: Sequence[npt.NDArray[np.float32]], windows: Sequence[Window]
    ) -> Iterator[tuple[Window, list[RawSegment]]]:
        """Each window with its raw segments (window times), laid out and decoded in turn."""
        for window in windows:
            yield window, list(self.decode_window(window_samples(window, channels)))

    def plan(self, audio: CallAudio) -> list[Window]:
        """The call's speech clips, every channel's, packed into windows.

        A clip of digital silence (every sample under :data:`DIGITAL_SILENCE`) is never
        decoded: with the VAD off, the base model wrote 你不认识 on 15 s of zeros, confidently.
        """
        opts = self.options
        spans = []
        for channel, samples in enumerate(audio.channels):
            clips = opts.clips(samples)
            if clips is None:
                clips = [0.0, len(samples) / audio.sample_rate]
            spans += [
                span
                for span in clips_from_flat(channel, clips)
                if _has_signal(samples, span, audio.sample_rate)
            ]
        return plan_windows(spans, max_window_s=opts.max_window_s, gap_s=opts.window_gap_s)

    def transcribe(self, audio: CallAudio) -> Transcript:
        """The call decoded window by window, then clips the model skipped decoded alone.

        Whisper sometimes ends a window early and says nothing of its last clip (measured on
        the stereo fixture: the agent's 1.3 s clip at the end of a 28 s window). A clip with
        no word of its own is decoded again on its own window, as every clip was before
        packing, so packing can cost a clip's context but never the clip.
        """
        opts = self.options
        windows = self.plan(audio)
        cleaned: list[tuple[Window, Segment]] = []
        missed: list[Placement] = []
        for window, raw_segments in self.decode_windows(audio.channels, windows):
            if len(window.placements) > 1:
                missed += unheard(window, raw_segments)
            cleaned += self._cleaned(window, raw_segments)
        alone = [Window(0, (dataclasses.replace(p, window_start=0.0),), p.duration) for p in missed]
        for window, raw_segments in self.decode_windows(audio.channels, alone):
            cleaned += self._cleaned(window, raw_segments)
        log.debug(
            "%s: %d channel(s), %d clip(s) packed into %d window(s), %d decoded again alone",
            audio.sha256[:12],
            len(audio.channels),
            sum(len(w.placements) for w in windows),
            len(windows),
            len(alone),
        )
        kept = {id(s) for s in drop_repeated_segments([s for _, s in cleaned])}
        pieces = [
            piece
            for window, segment in cleaned
            if id(segment) in kept
            for piece in to_source(segment, window, audio.speakers)
        ]
        segments = build_turns(pieces)
        if opts.rehear_digits:
            rehear_digits(self.decode_text, audio, segments)
        if opts.rehear_names:
            rehear_name_answers(self.decode_text, audio, segments)
        return Transcript(
            duration=audio.duration,
            segments=segments,
            language=opts.language,
            engine=self.name,
            model=self.model_name,
        )

    def decode_text(self, samples: npt.NDArray[np.float32], prompt: str) -> str:
        """One clip decoded alone (a second hearing), as Simplified text without spaces."""
        decoded = self.decode_window(samples, prompt=prompt, words=False)
        text = "".join(raw.text for raw in decoded).strip()
        return remove_spaces_between_han(to_simplified(text))

    def _cleaned(
        self, window: Window, raw_segments: Iterable[RawSegment]
    ) -> list[tuple[Window, Segment]]:
        opts = self.options
        out = []
        for raw in raw_segments:
            segment = clean_segment(
                raw,
                None,
                no_speech_threshold=opts.no_speech_threshold,
                log_prob_threshold=opts.log_prob_threshold,
                prompt=opts.initial_prompt,
                final_punctuation=False,
            )
            if segment is not None:
                out.append((window, segment))
        return out


DIGITAL_SILENCE = 1e-4
"""Peak amplitude (-80 dBFS) under which a clip holds no signal at all: below the smallest
non-zero G.711 step (about 2.4e-4), so only true digital silence is under it."""


def _has_signal(samples: npt.NDArray[np.float32], span: ClipSpan, rate: int) -> bool:
    clip = samples[round(span.start * rate) : round(span.end * rate)]
    return bool(clip.size) and float(np.max(np.abs(clip))) >= DIGITAL_SILENCE


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

    def _decoding_options(self) -> dict[str, Any]:
        """The options the sequential and the batched paths decode a window with, alike."""
        opts = self.options
        return {
            "language": opts.language,
            "task": "transcribe",
            "beam_size": opts.beam_size,
            "best_of": opts.beam_size,
            "patience": opts.patience,
            "temperature": list(opts.temperature),
            "compression_ratio_threshold": opts.compression_ratio_threshold,
            "initial_prompt": opts.initial_prompt,
            "word_timestamps": True,
            "vad_filter": False,
            "no_speech_threshold": opts.no_speech_threshold,
            "log_prob_threshold": opts.log_prob_threshold,
        }

    def decode_window(
        self, samples: npt.NDArray[np.float32], *, prompt: str | None = None, words: bool = True
    ) -> Iterator[RawSegment]:
        import ctranslate2

        opts = self.options
        ctranslate2.set_random_seed(opts.seed)
        decoding = self._decoding_options()
        decoding["word_timestamps"] = words
        if prompt is not None:
            decoding["initial_prompt"] = prompt or None
        raw_segments, _info = self._model.transcribe(
            samples,
            condition_on_previous_text=opts.condition_on_previous_text,
            **decoding,
        )
        for raw in raw_segments:
            yield _raw_segment(raw)

    def decode_windows(
        self, channels: Sequence[npt.NDArray[np.float32]], windows: Sequence[Window]
    ) -> Iterator[tuple[Window, list[RawSegment]]]:
        if self.options.batch_size <= 1:
            yield from super().decode_windows(channels, windows)
            return
        size = self.options.batch_size
        for first in range(0, len(windows), size):
            yield from self._decode_batch(channels, windows[first : first + size])

    def _decode_batch(
        self, channels: Sequence[npt.NDArray[np.float32]], windows: Sequence[Window]
    ) -> Iterator[tuple[Window, list[RawSegment]]]:
        """``batch_size`` windows laid end to end, decoded together, split back by window.

        The batched pipeline decodes each clip once at the first temperature (no fallback);
        the hallucination gates after it are the same.
        """
        from faster_whisper import BatchedInferencePipeline

        opts = self.options
        rate = defaults.SAMPLE_RATE
        laid = [window_samples(w, channels, rate) for w in windows]
        offsets = np.cumsum([0] + [len(s) for s in laid])
        audio = np.concatenate(laid) if laid else np.zeros(0, dtype=np.float32)
        raw_segments, _info = BatchedInferencePipeline(self._model).transcribe(
            audio,
            without_timestamps=False,
            clip_timestamps=[
                {"start": int(a) / rate, "end": int(b) / rate}
                for a, b in zip(offsets, offsets[1:], strict=False)
            ],
            batch_size=opts.batch_size,
            **self._decoding_options(),
        )
        per_window: list[list[RawSegment]] = [[] for _ in windows]
        starts = offsets[:-1] / rate
        for raw in raw_segments:
            segment = _raw_segment(raw)
            which = int(np.searchsorted(starts, (segment.start + segment.end) / 2, "right")) - 1
            per_window[max(which, 0)].append(_shifted(segment, -float(starts[max(which, 0)])))
        yield from zip(windows, per_window, strict=True)


def _shifted(raw: RawSegment, by: float) -> RawSegment:
    words = None
    if raw.words is not None:
        words = tuple(dataclasses.replace(w, start=w.start + by, end=w.end + by) for w in raw.words)
    return dataclasses.replace(raw, start=raw.start + by, end=raw.end + by, words=words)


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
