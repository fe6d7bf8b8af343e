"""The child side of ``callscribe bench``: one transcription path on one material, measured.

A user who does not run callscribe would run one of the peers below on the call's mono mix;
each runs in a fresh process (``python -m callscribe.transcribe.bench_paths PATH SPEC``) so
that its peak memory (``ru_maxrss``: interpreter, libraries, model and decoding) is its own.
Seconds count transcription only: the model is loaded and one short clip transcribed (untimed)
first, and each call is decoded before its clock starts.

Paths:

* ``shipped``: callscribe's transcriber as the settings configure it
  (:func:`~callscribe.transcribe.loader.transcriber_from_settings`), on the call as decoded
  (channels apart): the whole pipeline's transcription.
* ``plain``: faster-whisper's ``WhisperModel.transcribe`` (beam 5, language zh, its defaults
  otherwise) on the mono mix, same model directory, compute type and threads.
* ``batched``: faster-whisper's ``BatchedInferencePipeline`` (batch 8, timestamps on) on the
  mono mix.
* ``openai-whisper``: the stock reference, openai-whisper's own ``whisper.transcribe`` (beam 5,
  best of 5 as its command line, language zh) on the mono mix, from the same weights
  (converted once by :mod:`callscribe.transcribe.convert`).

Scoring converts both texts to Simplified (OpenCC) and drops punctuation and spaces, then counts
character errors (:func:`~callscribe.transcribe.evaluate.character_errors`).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callscribe.errors import CallscribeError, ConfigurationError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from callscribe.schema import CallAudio
    from callscribe.settings import Settings

__all__ = [
    "PATHS",
    "BenchItem",
    "Hypothesis",
    "Material",
    "PathBench",
    "bench_path_in_child",
    "turns_in_order",
]

PATHS = ("shipped", "plain", "batched", "openai-whisper")
STOCK = "openai-whisper"
"""The path every other is compared with."""

BEAM_SIZE = 5
LANGUAGE = "zh"
BATCH_SIZE = 8


@dataclass(frozen=True)
class BenchItem:
    """One audio file to transcribe, its reference text and speaker order (empty: not scored)."""

    audio: str
    reference: str
    speakers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Material:
    """What one child transcribes: the items, and the short clip it warms up on."""

    name: str
    warmup: str
    items: list[BenchItem]

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Material:
        data = json.loads(text)
        items = [BenchItem(**item) for item in data["items"]]
        return cls(name=data["name"], warmup=data["warmup"], items=items)


@dataclass(frozen=True)
class Hypothesis:
    """A path's text for one call, and its speaker order where the path knows speakers."""

    text: str
    speakers: list[str] | None = None


@dataclass(frozen=True)
class PathBench:
    """One path's figures over one material.

    Memory, in MiB: ``peak_rss_mib`` is the child's peak resident set by the end of the last
    transcription (scoring and the separate VAD timing come after); ``loaded_rss_mib`` its
    peak after loading the model and the warm-up; ``decoded_rss_mib`` its resident set right
    after the last file was decoded, before that file's transcription started.
    """

    path: str
    material: str
    detail: str
    threads: int
    items: int
    audio_s: float
    processing_s: float
    cpu_s: float
    load_s: float
    decode_s: float
    peak_rss_mib: float
    loaded_rss_mib: float
    decoded_rss_mib: float
    errors: int
    ref_chars: int
    turns_matched: int = 0
    turns_total: int = 0
    turns_exact: bool | None = None
    vad_s: float | None = None

    @property
    def rtf(self) -> float:
        """Real-time factor: processing seconds per second of audio (lower is faster)."""
        return self.processing_s / self.audio_s if self.audio_s else 0.0

    @property
    def cer(self) -> float:
        return self.errors / self.ref_chars if self.ref_chars else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rtf": round(self.rtf, 4), "cer": round(self.cer, 4)}


def turns_in_order(reference: list[str], found: list[str]) -> int:
    """How many reference turns the found speaker order keeps, in order (longest common
    subsequence): a swallowed or misattributed turn costs at least one."""
    previous = [0] * (len(found) + 1)
    for ref in reference:
        current = [0]
        for j, got in enumerate(found, start=1):
            current.append(previous[j - 1] + 1 if ref == got else max(previous[j], current[-1]))
        previous = current
    return previous[-1]


Runner = Callable[["CallAudio"], Hypothesis]
VadTimer = Callable[["CallAudio"], float]


def bench_path_in_child(path: str, material: Material) -> PathBench:
    """Measure ``path`` on ``material`` inside this process (the child side of the bench).

    Raises:
        ConfigurationError: a path we do not know.
    """
    from callscribe.audio import decode_call_audio
    from callscribe.settings import get_settings
    from callscribe.transcribe.evaluate import character_errors, normalise_for_scoring
    from callscribe.transcribe.postprocess import to_simplified

    if path not in PATHS:
        raise ConfigurationError(f"bench: unknown path {path!r}; use {', '.join(PATHS)}")
    settings = get_settings()
    threads = settings.cpu_threads or os.cpu_count() or 1
    settings = settings.model_copy(update={"cpu_threads": threads})
    started = time.perf_counter()
    run, detail, vad_timer = _load(path, settings, threads)
    load_s = time.perf_counter() - started
    run(decode_call_audio(Path(material.warmup)))
    loaded_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall = cpu = decode_s = audio_s = decoded_rss_mib = 0.0
    peak_kib = loaded_kib
    vad_s: float | None = 0.0 if vad_timer is not None else None
    errors = chars = matched = total = 0
    exact: bool | None = None
    for item in material.items:
        d0 = time.perf_counter()
        audio = decode_call_audio(Path(item.audio))
        decode_s += time.perf_counter() - d0
        decoded_rss_mib = _resident_mib()
        audio_s += audio.duration
        w0, c0 = time.perf_counter(), time.process_time()
        hypothesis = run(audio)
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        ref = normalise_for_scoring(to_simplified(item.reference))
        errors += character_errors(ref, normalise_for_scoring(to_simplified(hypothesis.text)))
        chars += len(ref)
        if item.speakers and hypothesis.speakers is not None:
            matched += turns_in_order(item.speakers, hypothesis.speakers)
            total += len(item.speakers)
            exact = (exact is not False) and hypothesis.speakers == item.speakers
        if vad_s is not None and vad_timer is not None:
            vad_s += vad_timer(audio)
        del audio
    return PathBench(
        path=path,
        material=material.name,
        detail=detail,
        threads=threads,
        items=len(material.items),
        audio_s=audio_s,
        processing_s=wall,
        cpu_s=cpu,
        load_s=load_s,
        decode_s=decode_s,
        peak_rss_mib=peak_kib / 1024,
        loaded_rss_mib=loaded_kib / 1024,
        decoded_rss_mib=decoded_rss_mib,
        errors=errors,
        ref_chars=chars,
        turns_matched=matched,
        turns_total=total,
        turns_exact=exact,
        vad_s=vad_s,
    )


def _load(path: str, settings: Settings, threads: int) -> tuple[Runner, str, VadTimer | None]:
    if path == "shipped":
        return _shipped(settings)
    if path == STOCK:
        return (*_openai_whisper(settings, threads), None)
    return (*_faster_whisper(settings, threads, batched=path == "batched"), None)


def _shipped(settings: Settings) -> tuple[Runner, str, VadTimer]:
    from callscribe.transcribe.loader import transcriber_from_settings
    from callscribe.transcribe.turns import turn_order

    transcriber = transcriber_from_settings(settings)

    def run(audio: CallAudio) -> Hypothesis:
        transcript = transcriber.transcribe(audio)
        order = turn_order(transcript.segments) if len(audio.channels) > 1 else None
        return Hypothesis(transcript.text, [str(s) for s in order] if order else None)

    compute = str(getattr(transcriber, "compute_type", ""))
    return run, f"{transcriber.name} {compute}".strip(), _vad_timer(transcriber)


def _model_dir(settings: Settings) -> Path:
    from callscribe.transcribe.model import resolve_model_dir

    return resolve_model_dir(settings.model, settings.cache_dir)


def _ct2_device(settings: Settings) -> tuple[str, str]:
    device = settings.device
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    compute = settings.compute_type
    if compute == "default":
        compute = "float16" if device == "cuda" else "int8"
    return device, compute


def _faster_whisper(settings: Settings, threads: int, *, batched: bool) -> tuple[Runner, str]:
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    device, compute = _ct2_device(settings)
    model = WhisperModel(
        str(_model_dir(settings)),
        device=device,
        compute_type=compute,
        cpu_threads=threads,
        local_files_only=True,
    )
    pipeline = BatchedInferencePipeline(model) if batched else None

    def run(audio: CallAudio) -> Hypothesis:
        mono = audio.mono()
        if pipeline is not None:
            segments, _info = pipeline.transcribe(
                mono,
                language=LANGUAGE,
                beam_size=BEAM_SIZE,
                batch_size=BATCH_SIZE,
                without_timestamps=False,
            )
        else:
            segments, _info = model.transcribe(mono, language=LANGUAGE, beam_size=BEAM_SIZE)
        return Hypothesis("".join(segment.text for segment in segments))

    return run, f"faster-whisper {compute}" + (f" batch {BATCH_SIZE}" if batched else "")


def _openai_whisper(settings: Settings, threads: int) -> tuple[Runner, str]:
    try:
        import torch
        import whisper
    except ImportError as err:
        raise ConfigurationError(
            "bench: the openai-whisper path needs the reference extra (pip install -e .[reference])"
        ) from err
    from callscribe.transcribe.convert import ensure_openai_checkpoint

    torch.set_num_threads(threads)
    device = settings.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    given = Path(settings.model).expanduser() if settings.model else None
    if given is not None and given.is_file():
        checkpoint = given
    else:
        model_dir = _model_dir(settings)
        checkpoint = ensure_openai_checkpoint(model_dir, model_dir.parent)
    model = whisper.load_model(str(checkpoint), device=device)
    fp16 = device == "cuda"

    def run(audio: CallAudio) -> Hypothesis:
        result = whisper.transcribe(
            model,
            audio.mono(),
            language=LANGUAGE,
            beam_size=BEAM_SIZE,
            best_of=BEAM_SIZE,
            fp16=fp16,
            verbose=None,
        )
        return Hypothesis(str(result["text"]))

    return run, f"openai-whisper {'float16' if fp16 else 'float32'}"


def _resident_mib() -> float:
    """This process's resident memory now (Linux ``/proc``; elsewhere its peak so far)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _vad_timer(transcriber: object) -> VadTimer:
    """Seconds the transcriber's own speech detection takes over every channel of a call.

    Uses the engine's ``options.clips`` (its VAD, with its settings) when it has one, else
    Silero with the shipped defaults.
    """
    find_clips = getattr(getattr(transcriber, "options", None), "clips", None)
    if find_clips is None:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        vad = VadOptions(min_silence_duration_ms=500, speech_pad_ms=400, max_speech_duration_s=30)

        def find_clips(samples: npt.NDArray[np.float32]) -> object:
            return get_speech_timestamps(samples, vad)

    def seconds(audio: CallAudio) -> float:
        started = time.perf_counter()
        for channel in audio.channels:
            find_clips(channel)
        return time.perf_counter() - started

    return seconds


def _child_main(argv: list[str]) -> int:
    path, spec = argv
    try:
        material = Material.from_json(Path(spec).read_text(encoding="utf-8"))
        result = bench_path_in_child(path, material)
    except CallscribeError as err:
        sys.stderr.write(f"{err}\n")
        return 1
    sys.stdout.write(json.dumps(asdict(result)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
