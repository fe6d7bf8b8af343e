"""The reference engine: openai-whisper on PyTorch, running the packaged weights.

Used to check faster-whisper (same weights, same text at float32) and to measure what
CTranslate2 buys. It decodes the same packed windows and applies the same clean-up as the default
engine (transcribe/engine.py), so the two differ only in how they decode a window.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from callscribe.errors import ModelError
from callscribe.schema import Word
from callscribe.transcribe.engine import ChannelEngine, TranscribeOptions, count_model_load
from callscribe.transcribe.postprocess import RawSegment

__all__ = ["OpenAIWhisperEngine"]

log = logging.getLogger(__name__)


class OpenAIWhisperEngine(ChannelEngine):
    """openai-whisper, float32 on CPU (float16 on CUDA), from a converted checkpoint."""

    name = "openai-whisper"

    def __init__(
        self,
        checkpoint: Path,
        *,
        device: str = "cpu",
        fp16: bool | None = None,
        cpu_threads: int = 0,
        options: TranscribeOptions | None = None,
    ) -> None:
        import torch
        import whisper

        self.checkpoint = checkpoint
        self.options = options or TranscribeOptions()
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if cpu_threads > 0:
            torch.set_num_threads(cpu_threads)
        started = time.perf_counter()
        try:
            self._model = whisper.load_model(str(checkpoint), device=device)
        except (RuntimeError, ValueError, OSError, KeyError) as err:
            raise ModelError(f"cannot load openai-whisper checkpoint {checkpoint}: {err}") from err
        heads = torch.load(str(checkpoint), map_location="cpu", weights_only=True).get(
            "alignment_heads"
        )
        if heads:
            dims = self._model.dims
            mask = torch.zeros(dims.n_text_layer, dims.n_text_head, dtype=torch.bool)
            for layer, head in heads:
                mask[layer, head] = True
            self._model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
        count_model_load()
        self.device = device
        self.fp16 = (device == "cuda") if fp16 is None else fp16
        self.compute_type = "float16" if self.fp16 else "float32"
        log.info(
            "loaded openai-whisper %s on %s in %.1fs",
            checkpoint.name,
            device,
            time.perf_counter() - started,
        )

    @property
    def model_name(self) -> str:
        return self.checkpoint.name

    def decode_window(
        self, samples: npt.NDArray[np.float32], *, prompt: str | None = None, words: bool = True
    ) -> list[RawSegment]:
        import torch
        import whisper

        opts = self.options
        torch.manual_seed(opts.seed)
        result: dict[str, Any] = whisper.transcribe(
            self._model,
            samples,
            verbose=None,
            language=opts.language,
            task="transcribe",
            temperature=opts.temperature,
            compression_ratio_threshold=opts.compression_ratio_threshold,
            logprob_threshold=opts.log_prob_threshold,
            no_speech_threshold=opts.no_speech_threshold,
            condition_on_previous_text=opts.condition_on_previous_text,
            initial_prompt=opts.initial_prompt if prompt is None else (prompt or None),
            word_timestamps=words,
            fp16=self.fp16,
            beam_size=opts.beam_size if opts.beam_size > 1 else None,
            best_of=opts.beam_size if opts.beam_size > 1 else None,
            patience=opts.patience if opts.beam_size > 1 else None,
        )
        return [_raw_segment(s) for s in result["segments"]]


def _raw_segment(seg: dict[str, Any]) -> RawSegment:
    words = None
    if "words" in seg:
        words = tuple(
            Word(
                start=float(w["start"]),
                end=float(w["end"]),
                word=str(w["word"]),
                probability=float(w["probability"]),
            )
            for w in seg["words"]
        )
    return RawSegment(
        start=float(seg["start"]),
        end=float(seg["end"]),
        text=str(seg["text"]),
        avg_logprob=float(seg["avg_logprob"]),
        no_speech_prob=float(seg["no_speech_prob"]),
        compression_ratio=float(seg["compression_ratio"]),
        words=words,
    )
