"""Prompting every VAD clip against the shipped per-channel prompt, on the same audio.

With ``condition_on_previous_text=False`` faster-whisper drops the initial prompt after a
channel's first window, so only the first clip of a channel is prompted. This script decodes
each clip as its own ``transcribe`` call with the prompt and compares character errors with the
shipped engine, on the cases of scripts/bench_batched.py (the 11 clips, the two fixture calls
and the 126 s stereo call it builds). Figures: docs/benchmarks.md.

    python scripts/asr_prompt_every_clip.py
"""

from __future__ import annotations

import copy
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import ctranslate2
import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_batched as bb  # noqa: E402 - the measurement helpers in this folder

from callscribe.settings import get_settings  # noqa: E402
from callscribe.transcribe import FasterWhisperEngine, resolve_model_dir  # noqa: E402
from callscribe.transcribe.engine import _raw_segment  # noqa: E402
from callscribe.transcribe.postprocess import RawSegment  # noqa: E402


class EveryClipPrompted(FasterWhisperEngine):
    """The shipped engine, except that each VAD clip is its own call, prompt included."""

    def decode_channel(
        self, samples: npt.NDArray[np.float32], clips: list[float] | None
    ) -> Iterator[RawSegment]:
        if clips is None:
            yield from super().decode_channel(samples, clips)
            return
        opts = self.options
        ctranslate2.set_random_seed(opts.seed)
        for start, end in zip(clips[0::2], clips[1::2], strict=True):
            segments, _ = self._model.transcribe(
                samples,
                language=opts.language,
                beam_size=opts.beam_size,
                best_of=opts.beam_size,
                patience=opts.patience,
                temperature=list(opts.temperature),
                compression_ratio_threshold=opts.compression_ratio_threshold,
                initial_prompt=opts.initial_prompt,
                condition_on_previous_text=False,
                word_timestamps=opts.word_timestamps,
                vad_filter=False,
                clip_timestamps=[start, end],
                no_speech_threshold=opts.no_speech_threshold,
                log_prob_threshold=opts.log_prob_threshold,
            )
            for raw in segments:
                yield _raw_segment(raw)


def main() -> None:
    settings = get_settings()
    shipped = FasterWhisperEngine(resolve_model_dir(settings.model, settings.cache_dir))
    every = copy.copy(shipped)
    every.__class__ = EveryClipPrompted
    with tempfile.TemporaryDirectory() as tmp:
        for case in bb.load_cases(Path(tmp)):
            for name, engine in (("shipped", shipped), ("every clip prompted", every)):
                result = bb.run_case(engine.transcribe, case)
                sys.stdout.write(
                    f"{case.name:<32}{name:<22}errors {result['errors']}/{result['chars']}"
                    f"  turn order {'right' if result['order_ok'] else 'WRONG'}"
                    f"  wall {result['wall']:.1f} s\n"
                )


if __name__ == "__main__":
    main()
