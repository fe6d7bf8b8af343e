"""Batched decoding of a channel's VAD clips against the shipped per-clip path and openai-whisper.

Usage (from the repository root; docs/benchmarks.md, "Batched decoding of the VAD clips"):

    python scripts/bench_batched.py [--repeats 2] [--batch-size 8] [--no-reference]
    python scripts/bench_batched.py --components   # encoder and beam search alone, per clip
    python scripts/bench_batched.py --no-reference --first-clip-prompt [--timestamps]

Three paths on the same audio, one after the other in one process, each repeated:

* ``current``: ``FasterWhisperEngine`` as shipped (each VAD clip its own 30 s window through
  ``clip_timestamps``, beam 5, temperature fallback).
* ``batched``: the same loaded model, the same VAD clips, decoded by faster-whisper's own
  ``BatchedInferencePipeline`` (clips given as ``clip_timestamps`` dicts, so each clip stays its
  own window; ``batch_size`` clips encoded and beam-searched together). The library supports
  only the first temperature (no fallback) and ignores the compression-ratio and log-probability
  thresholds. By default it prompts every clip; ``--first-clip-prompt`` prompts only each
  channel's first clip, as the shipped path does in effect (``condition_on_previous_text=False``
  resets the prompt after the first window). The callscribe clean-up
  (``postprocess.clean_segment``: no-speech gate, loop and credit filters) still runs on every
  segment, since only ``decode_channel`` is replaced.
* ``openai``: the reference engine (openai-whisper float32, sequential).

Audio: the 11 labelled clips (fixtures/speech/manifest.tsv, each file its own call), the stereo
8 kHz call and the four-turn mono call in fixtures/calls, and a longer stereo 8 kHz mu-law call
built here from the same clips (22 alternating turns with 0.4-2.5 s pauses). Wall and CPU
seconds are transcription only, after the models are loaded and warmed up.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402 - the fixture builder in this folder

from callscribe.audio import decode_call_audio  # noqa: E402
from callscribe.schema import CallAudio, Transcript  # noqa: E402
from callscribe.settings import get_settings  # noqa: E402
from callscribe.transcribe.engine import FasterWhisperEngine, _raw_segment  # noqa: E402
from callscribe.transcribe.evaluate import (  # noqa: E402
    character_errors,
    normalise_for_scoring,
    read_manifest,
)
from callscribe.transcribe.loader import load_transcriber  # noqa: E402
from callscribe.transcribe.postprocess import RawSegment  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LONG_GAPS_S = (0.6, 1.2, 0.4, 2.5, 0.8, 1.5)


class BatchedProbe(FasterWhisperEngine):
    """The shipped engine with ``decode_channel`` done by ``BatchedInferencePipeline``."""

    batch_size = 8
    first_clip_prompt = False
    without_timestamps = True
    fallback_needed = 0

    def decode_channel(self, samples: Any, clips: list[float] | None) -> list[RawSegment]:
        from faster_whisper import BatchedInferencePipeline

        opts = self.options
        spans = clips if clips is not None else [0.0, len(samples) / 16_000]
        pairs = [{"start": s, "end": e} for s, e in zip(spans[0::2], spans[1::2], strict=True)]
        prompt = " " + opts.initial_prompt.strip() if opts.initial_prompt else None
        # The shipped path prompts only the first clip of a channel: with
        # condition_on_previous_text=False faster-whisper resets the prompt after each window.
        groups = (
            [(pairs[:1], prompt), (pairs[1:], None)]
            if self.first_clip_prompt
            else [(pairs, prompt)]
        )
        raw_segments: list[Any] = []
        for group, group_prompt in groups:
            if not group:
                continue
            found, _info = BatchedInferencePipeline(self._model).transcribe(
                samples,
                language=opts.language,
                beam_size=opts.beam_size,
                patience=opts.patience,
                temperature=opts.temperature[0],
                initial_prompt=group_prompt,
                word_timestamps=opts.word_timestamps,
                without_timestamps=self.without_timestamps,
                vad_filter=False,
                clip_timestamps=group,
                batch_size=self.batch_size,
            )
            raw_segments += list(found)
        out = [_raw_segment(r) for r in raw_segments]
        for seg in out:  # what generate_with_fallback would have decoded again
            bad = (seg.compression_ratio > (opts.compression_ratio_threshold or 1e9)) or (
                seg.avg_logprob < opts.log_prob_threshold
            )
            silent = seg.no_speech_prob > opts.no_speech_threshold and (
                seg.avg_logprob < opts.log_prob_threshold
            )
            self.fallback_needed += int(bad and not silent)
        return out


@dataclass
class Case:
    """One audio type: its calls and their reference texts (and speaker order, if any)."""

    name: str
    calls: list[tuple[CallAudio, str, list[str | None]]]

    @property
    def audio_s(self) -> float:
        return sum(call.duration for call, _, _ in self.calls)


def build_long_call(path: Path) -> tuple[str, list[str | None]]:
    """Write a stereo 8 kHz mu-law call of 22 alternating turns; return text and speakers."""
    manifest = mf.load_manifest()
    names = sorted(manifest)
    order = names + names[::-1]
    rate = mf.RATE
    cursor = int(0.5 * rate)
    placed = []
    for i, name in enumerate(order):
        clip = mf.speech_only(mf.read_clip(name))
        placed.append((cursor, clip, i % 2))
        cursor += len(clip) + int(LONG_GAPS_S[i % len(LONG_GAPS_S)] * rate)
    stereo = np.zeros((cursor + rate // 2, 2), dtype=np.float32)
    for start, clip, side in placed:
        stereo[start : start + len(clip), side] += clip
    soundfile.write(path, mf.to_rate(stereo, mf.PHONE_RATE), mf.PHONE_RATE, subtype="ULAW")
    speakers: list[str | None] = ["agent" if i % 2 == 0 else "caller" for i in range(len(order))]
    return "".join(manifest[n] for n in order), speakers


def load_cases(tmp: Path) -> list[Case]:
    calls_dir = ROOT / "fixtures" / "calls"
    clips = [
        (decode_call_audio(e.audio), e.transcript, [])
        for e in read_manifest(ROOT / "fixtures" / "speech" / "manifest.tsv")
    ]
    cases = [Case("11 clips (1 call each)", clips)]
    for stem, label, speakers in [
        ("call_stereo8k_mulaw", "stereo 8k call, 8 turns", True),
        ("sample_call_mono16k", "mono 16k call, 4 turns", False),
    ]:
        ref = json.loads((calls_dir / f"{stem}.reference.json").read_text(encoding="utf-8"))
        order = [t["speaker"] for t in ref["turns"]] if speakers else []
        audio = decode_call_audio(calls_dir / f"{stem}.wav")
        cases.append(Case(label, [(audio, ref["text"], order)]))
    long_path = tmp / "long_call_stereo8k_mulaw.wav"
    text, order = build_long_call(long_path)
    long_call = decode_call_audio(long_path)
    cases.append(Case("long stereo 8k call, 22 turns", [(long_call, text, order)]))
    return cases


def run_case(transcribe: Callable[[CallAudio], Transcript], case: Case) -> dict[str, Any]:
    wall = cpu = 0.0
    errors = chars = 0
    order_ok = True
    segments = 0
    for audio, reference, speakers in case.calls:
        w0, c0 = time.perf_counter(), time.process_time()
        transcript = transcribe(audio)
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        ref = normalise_for_scoring(reference)
        errors += character_errors(ref, normalise_for_scoring(transcript.text))
        chars += len(ref)
        segments += len(transcript.segments)
        if speakers:
            got = [s.speaker for s in transcript.segments]
            collapsed = [sp for i, sp in enumerate(speakers) if i == 0 or sp != speakers[i - 1]]
            order_ok &= got == collapsed
    return {"wall": wall, "cpu": cpu, "errors": errors, "chars": chars, "segs": segments,
            "order_ok": order_ok}  # fmt: skip


def components(engine: FasterWhisperEngine, repeats: int) -> None:
    """CPU seconds per clip of the encoder and of beam search, at batch sizes 1, 4 and 8."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer

    model = engine._model
    samples = decode_call_audio(ROOT / "fixtures" / "speech" / "SSB00050015.wav").channels[0]
    features = pad_or_trim(model.feature_extractor(samples)[..., :-1])
    tokenizer = Tokenizer(model.hf_tokenizer, True, task="transcribe", language="zh")
    prompt_text = " " + (engine.options.initial_prompt or "").strip()
    prompt = model.get_prompt(tokenizer, tokenizer.encode(prompt_text), without_timestamps=True)
    for rep in range(1, repeats + 1):
        for n in (1, 4, 8):
            c0 = time.process_time()
            encoded = model.encode(np.stack([features] * n))
            c1 = time.process_time()
            model.model.generate(encoded, [prompt] * n, beam_size=5, max_length=448)
            c2 = time.process_time()
            sys.stdout.write(
                f"run {rep} | batch {n} | per clip CPU s: encoder {(c1 - c0) / n:.3f}, "
                f"beam search {(c2 - c1) / n:.3f} | load {os.getloadavg()[0]:.2f}\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--components", action="store_true")
    parser.add_argument("--first-clip-prompt", action="store_true", help="prompt clip 1 only")
    parser.add_argument("--timestamps", action="store_true", help="without_timestamps=False")
    args = parser.parse_args()
    settings = get_settings()
    threads = settings.cpu_threads or os.cpu_count() or 1
    current = load_transcriber("faster-whisper", settings.model, settings.cache_dir, "cpu",
                               "int8", threads)  # fmt: skip
    assert isinstance(current, FasterWhisperEngine)
    if args.components:
        components(current, args.repeats)
        return
    batched = copy.copy(current)
    batched.__class__ = BatchedProbe
    batched.batch_size = args.batch_size  # type: ignore[attr-defined]
    batched.first_clip_prompt = args.first_clip_prompt  # type: ignore[attr-defined]
    batched.without_timestamps = not args.timestamps  # type: ignore[attr-defined]
    engines: dict[str, Any] = {"current": current, "batched": batched}
    if not args.no_reference:
        engines["openai"] = load_transcriber("openai", settings.model, settings.cache_dir, "cpu",
                                             "default", threads)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        cases = load_cases(Path(tmp))
    for engine in engines.values():  # warm-up, untimed
        engine.transcribe(cases[0].calls[0][0])
    sys.stdout.write(f"threads {threads}, batch size {args.batch_size}, load {os.getloadavg()}\n")
    for rep in range(1, args.repeats + 1):
        for case in cases:
            for name, engine in engines.items():
                batched.fallback_needed = 0  # type: ignore[attr-defined]
                r = run_case(engine.transcribe, case)
                redo = batched.fallback_needed  # type: ignore[attr-defined]
                extra = f" | fallback needed {redo}" if name == "batched" else ""
                sys.stdout.write(
                    f"run {rep} | {case.name:<30} | {name:<8} | audio {case.audio_s:7.2f} s | "
                    f"wall {r['wall']:7.2f} s | cpu {r['cpu']:7.2f} s | CER "
                    f"{r['errors'] / r['chars']:7.2%} ({r['errors']}/{r['chars']}) | "
                    f"segments {r['segs']} | turn order {'ok' if r['order_ok'] else 'WRONG'}"
                    f"{extra} | load {os.getloadavg()[0]:.2f}\n"
                )
                sys.stdout.flush()


if __name__ == "__main__":
    main()
