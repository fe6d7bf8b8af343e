"""Run an ASR manifest under several decoding settings and print each one's total CER.

Usage (docs/benchmarks.md, "## Transcription" and "Packed windows"):

    python scripts/asr_experiments.py [--manifest TSV] [NAME ...]

``bare`` is the model alone, as a user would run it: faster-whisper's ``transcribe`` with beam 5,
no prompt, no VAD, and none of callscribe's gates or punctuation; its text is converted to
Simplified like every other's before scoring.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from callscribe.schema import CallAudio, Segment, Transcript
from callscribe.settings import get_settings
from callscribe.transcribe.engine import FasterWhisperEngine, TranscribeOptions
from callscribe.transcribe.evaluate import evaluate_asr, read_manifest
from callscribe.transcribe.model import resolve_model_dir
from callscribe.transcribe.postprocess import to_simplified
from callscribe.transcribe.prompt import build_initial_prompt

OLD_PROMPT = "您好，这里是北京12345市民服务热线。请问您反映什么问题？"
BASE = TranscribeOptions()
EXPERIMENTS: dict[str, TranscribeOptions] = {
    "raw": TranscribeOptions(
        beam_size=1, initial_prompt=None, vad_filter=False, temperature=(0.0,)
    ),
    "greedy+fallback": TranscribeOptions(beam_size=1, initial_prompt=None, vad_filter=False),
    "beam5": TranscribeOptions(initial_prompt=None, vad_filter=False),
    "beam5+vad": TranscribeOptions(initial_prompt=None),
    "beam5+vad+old_prompt": TranscribeOptions(initial_prompt=OLD_PROMPT),
    "default": BASE,
    "default+vocab": dataclasses.replace(
        BASE, initial_prompt=build_initial_prompt(use_vocabulary=True)
    ),
    "prompt_simple": dataclasses.replace(BASE, initial_prompt="以下是普通话的句子。"),
    "beam8": dataclasses.replace(BASE, beam_size=8),
    "beam5_nofallback": dataclasses.replace(BASE, temperature=(0.0,)),
    "vad_pad200": dataclasses.replace(BASE, vad_speech_pad_ms=200),
    "vad_pad800": dataclasses.replace(BASE, vad_speech_pad_ms=800),
    "vad_thr0.35": dataclasses.replace(BASE, vad_threshold=0.35),
    "clips_split_2000ms": dataclasses.replace(BASE, vad_min_silence_ms=2000),
    "clips_no_prompt": dataclasses.replace(BASE, initial_prompt=None),
    "clips_greedy": dataclasses.replace(BASE, beam_size=1),
    "clips_old_prompt": dataclasses.replace(BASE, initial_prompt=OLD_PROMPT),
    "prompt_nopunct": dataclasses.replace(
        BASE, initial_prompt="您好这里是北京12345市民服务热线请问您反映什么问题"
    ),
    "old_prompt+pad200": dataclasses.replace(
        BASE, initial_prompt=OLD_PROMPT, vad_speech_pad_ms=200
    ),
    "beam5_patience2": dataclasses.replace(BASE, patience=2.0),
    "batched8": dataclasses.replace(BASE, batch_size=8),
}
COMPUTE = {"float32": "float32", "int8_float32": "int8_float32"}


class BareModel:
    """faster-whisper's own ``transcribe`` on the mono mix: beam 5, no prompt, no VAD."""

    name = "bare"

    def __init__(self, engine: FasterWhisperEngine) -> None:
        self._model = engine._model

    def transcribe(self, audio: CallAudio) -> Transcript:
        mono = sum(audio.channels) / len(audio.channels)
        raw, _info = self._model.transcribe(mono, language="zh", beam_size=5)
        segments = [
            Segment(start=s.start, end=s.end, text=to_simplified(s.text), speaker=None) for s in raw
        ]
        return Transcript(duration=audio.duration, segments=segments, language="zh")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=Path("fixtures/speech/manifest.tsv"))
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    settings = get_settings()
    entries = read_manifest(args.manifest)
    model_dir = resolve_model_dir(settings.model, settings.cache_dir)
    engine = FasterWhisperEngine(model_dir, device="cpu", compute_type="int8")
    for name in args.names or list(EXPERIMENTS):
        if name in COMPUTE:
            engine = FasterWhisperEngine(model_dir, device="cpu", compute_type=COMPUTE[name])
        engine.options = EXPERIMENTS.get(name, BASE)
        started = time.perf_counter()
        transcriber = BareModel(engine) if name == "bare" else engine
        report = evaluate_asr(entries, transcriber)
        took = time.perf_counter() - started
        sys.stdout.write(
            f"{name}: CER {report.cer:.2%} ({report.errors}/{report.ref_chars}) in {took:.1f}s\n"
        )
        for clip in report.clips:
            trad = "T" if to_simplified(clip.hypothesis) != clip.hypothesis else " "
            sys.stdout.write(f"   {clip.cer:6.1%} {trad} {clip.file}: {clip.hypothesis}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
