"""Measure audio intake: decode+resample speed on 8 kHz audio, and stereo vs mono accuracy.

Run from the repository root (the figures in docs/benchmarks.md, "Audio intake"):

    python scripts/bench_intake.py            # both parts
    python scripts/bench_intake.py --decode   # decode speed only (no model)

Decode: a 10-minute call is built by repeating fixtures/calls/call_stereo8k_mulaw.wav and
written in four telephone formats; each is decoded with decode_call_audio (which also
fingerprints the file and checks for silence) three times; the median is reported per minute
of audio, next to soxr's resampling alone.

Accuracy: the stereo 8 kHz mu-law call and the same call mixed to mono at 16 kHz are
transcribed through the shipped path, ``transcriber_from_settings(get_settings())`` on the
call as ``decode_call_audio`` gives it (so CALLSCRIBE_* settings apply, the packaged Whisper
base model by default); the character error rate against the reference (in turn order) is
computed with jiwer.cer after removing punctuation and spaces only, and the stereo call's turn
order is checked against the reference's.

The accuracy figures in docs/benchmarks.md were measured with the per-clip engine of commit
bcde1cf, with and without word timestamps, and compared the naive sort of per-channel segments
with the merged turns. That engine is gone: calls are now decoded in packed windows, always
with word timings, and the words are mapped back to speakers inside the engine, so neither
comparison can be re-run; read the old script with ``git show 0059c71:scripts/bench_intake.py``.
"""

from __future__ import annotations

import argparse
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
from callscribe.transcribe.turns import turn_order  # noqa: E402

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
        assert isinstance(stream, av.audio.stream.AudioStream)
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

    from callscribe.settings import get_settings
    from callscribe.transcribe.loader import transcriber_from_settings

    reference = json.loads(STEREO.with_name("call_stereo8k_mulaw.reference.json").read_text())
    ref_text = strip(reference["text"])
    expected = [t["speaker"] for t in reference["turns"]]
    transcriber = transcriber_from_settings(get_settings())
    results: dict[str, object] = {}
    for label, path in (("stereo 8 kHz mu-law", STEREO), ("mono 16 kHz", MONO)):
        audio = decode_call_audio(path)
        wall, cpu = time.perf_counter(), time.process_time()
        transcript = transcriber.transcribe(audio)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        results[f"{label}: call seconds"] = round(audio.duration, 1)
        results[f"{label}: transcribe wall s / CPU s"] = f"{wall:.1f} / {cpu:.1f}"
        results[f"{label}: CER"] = jiwer.cer(ref_text, strip(transcript.text))
        if path == STEREO:
            results[f"{label}: turn order right"] = turn_order(transcript.segments) == expected
            results[f"{label}: transcript"] = [
                f"{s.speaker}: {s.text}" for s in transcript.segments
            ]
    return results


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
