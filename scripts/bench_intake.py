"""Measure audio intake: decode+resample speed on 8 kHz audio, and stereo vs mono accuracy.

Run from the repository root (the figures in docs/benchmarks.md, "Audio intake"):

    python scripts/bench_intake.py            # both parts
    python scripts/bench_intake.py --decode   # decode speed only (no model)

Decode: a 10-minute call is built by repeating fixtures/calls/call_stereo8k_mulaw.wav and
written in four telephone formats; each is decoded with decode_call_audio (which also
fingerprints the file and checks for silence) three times; the median is reported per minute
of audio, next to soxr's resampling alone.

Accuracy: the stereo 8 kHz mu-law call and the same call mixed to mono at 16 kHz are
transcribed with the packaged Whisper base model; the character error rate against the
reference (in turn order) is computed with jiwer.cer after removing punctuation and spaces
only. The stereo call is decoded with and without word timestamps, and each decoding is
scored twice: turns merged (callscribe.transcribe.turns) and the naive sort of whole
per-channel segments by start time.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import statistics
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import av
import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callscribe.audio import decode_call_audio  # noqa: E402
from callscribe.audio.decode import resample_to_16k  # noqa: E402
from callscribe.schema import Segment  # noqa: E402
from callscribe.transcribe.turns import merge_channel_segments, turn_order  # noqa: E402

CALLS = ROOT / "fixtures" / "calls"
STEREO = CALLS / "call_stereo8k_mulaw.wav"
MONO = CALLS / "call_mono16k.flac"
MINUTES = 10


def strip(text: str) -> str:
    """Remove punctuation and spaces only."""
    return "".join(
        ch for ch in text if not unicodedata.category(ch).startswith("P") and not ch.isspace()
    )


def _timed(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _encode(path: Path, mono: np.ndarray, codec: str, container: str, bit_rate: int) -> None:
    pcm = (np.clip(mono, -1, 1) * 32767).astype(np.int16)[None, :]
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=8000, layout="mono")
        stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.rate = 8000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def bench_decode() -> dict[str, float]:
    data, rate = soundfile.read(STEREO, dtype="float32", always_2d=True)
    reps = int(np.ceil(MINUTES * 60 * rate / len(data)))
    long = np.tile(data, (reps, 1))[: MINUTES * 60 * rate]
    minutes = len(long) / rate / 60
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "WAV mu-law stereo": Path(tmp) / "stereo_ulaw.wav",
            "WAV PCM16 mono": Path(tmp) / "mono_pcm16.wav",
            "MP3 mono 16 kbit/s": Path(tmp) / "mono.mp3",
            "AMR-NB mono 12.2 kbit/s": Path(tmp) / "mono.amr",
        }
        soundfile.write(files["WAV mu-law stereo"], long, rate, subtype="ULAW")
        soundfile.write(files["WAV PCM16 mono"], long[:, 1], rate, subtype="PCM_16")
        _encode(files["MP3 mono 16 kbit/s"], long[:, 1], "libmp3lame", "mp3", 16000)
        _encode(files["AMR-NB mono 12.2 kbit/s"], long[:, 1], "libopencore_amrnb", "amr", 12200)
        for label, path in files.items():
            seconds = _timed(lambda p=path: decode_call_audio(p))
            out[f"decode+resample {label}, s per audio minute"] = seconds / minutes
        seconds = _timed(lambda: resample_to_16k(long, rate))
        out["soxr HQ resample alone, stereo, s per audio minute"] = seconds / minutes
    return out


def bench_accuracy() -> dict[str, object]:
    import jiwer

    from callscribe.transcribe import FasterWhisperEngine, resolve_model_dir

    reference = json.loads(STEREO.with_name("call_stereo8k_mulaw.reference.json").read_text())
    ref_text = strip(reference["text"])
    engine = FasterWhisperEngine(resolve_model_dir(None, Path.home() / ".cache" / "callscribe"))
    stereo = decode_call_audio(STEREO)
    expected = [t["speaker"] for t in reference["turns"]]
    results: dict[str, object] = {"call seconds": round(stereo.duration, 1)}
    for words in (False, True):
        variant = copy.copy(engine)
        variant.options = dataclasses.replace(engine.options, word_timestamps=words)
        label = "word timestamps" if words else "no word timestamps (default)"
        wall, cpu = time.perf_counter(), time.process_time()
        per_channel = [
            variant.transcribe_channel(channel, speaker)
            for channel, speaker in zip(stereo.channels, stereo.speakers, strict=True)
        ]
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        naive = sorted([s for c in per_channel for s in c], key=lambda s: (s.start, s.end))
        merged = merge_channel_segments(per_channel)
        results[f"stereo, {label}: transcribe wall s / CPU s"] = f"{wall:.1f} / {cpu:.1f}"
        results[f"stereo, {label}: CER naive sort"] = jiwer.cer(ref_text, strip(_text(naive)))
        results[f"stereo, {label}: CER turns merged"] = jiwer.cer(ref_text, strip(_text(merged)))
        results[f"stereo, {label}: turns right, naive / merged"] = (
            f"{turn_order(naive) == expected} / {turn_order(merged) == expected}"
        )
        results[f"stereo, {label}: merged transcript"] = [f"{s.speaker}: {s.text}" for s in merged]
    mono = decode_call_audio(MONO)
    wall, cpu = time.perf_counter(), time.process_time()
    mono_transcript = engine.transcribe(mono)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    results["mono 16 kHz: transcribe wall s / CPU s"] = f"{wall:.1f} / {cpu:.1f}"
    results["mono 16 kHz: CER"] = jiwer.cer(ref_text, strip(mono_transcript.text))
    return results


def _text(segments: list[Segment]) -> str:
    return "".join(s.text for s in segments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decode", action="store_true", help="decode speed only")
    parser.add_argument("--accuracy", action="store_true", help="accuracy only")
    args = parser.parse_args()
    results: dict[str, object] = {}
    if not args.accuracy:
        results.update(bench_decode())
    if not args.decode:
        results.update(bench_accuracy())
    for key, value in results.items():
        shown = f"{value:.4f}" if isinstance(value, float) else value
        sys.stdout.write(f"{key}: {shown}\n")


if __name__ == "__main__":
    main()
