"""Where the speech is: Silero VAD (bundled with faster-whisper), shared by both engines.

The stretches of speech of every channel are packed into Whisper windows (transcribe/windows.py),
so nothing is decoded where nobody speaks; a clip the model skipped in its window is decoded
again on its own (transcribe/engine.py).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["VAD_CHUNK_S", "speech_clips"]

_SAMPLE_RATE = 16_000

VAD_CHUNK_S = 300.0
"""Seconds of a channel the VAD reads at once. faster-whisper's ``get_speech_timestamps`` pads
and re-frames its whole input (two more copies of it, plus the model's outputs), so a 30-minute
channel cost some 250 MiB on top of the call; read in 5-minute pieces it costs the same as a
5-minute call. A stretch of speech cut at a piece's edge comes back as two clips that touch,
which the window planner joins again (``TOUCH_S``)."""


def speech_clips(
    samples: npt.NDArray[np.float32],
    *,
    threshold: float,
    min_silence_ms: int,
    speech_pad_ms: int,
    max_clip_s: float,
    chunk_s: float = VAD_CHUNK_S,
) -> list[float]:
    """Start and end seconds of each stretch of speech, flat (``[s0, e0, s1, e1, ...]``).

    Empty means no speech. Stretches are split at pauses of ``min_silence_ms``; the window
    planner places each one whole and joins only those that touch.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        threshold=threshold,
        min_silence_duration_ms=min_silence_ms,
        speech_pad_ms=speech_pad_ms,
        max_speech_duration_s=max_clip_s,
    )
    step = max(int(chunk_s * _SAMPLE_RATE), _SAMPLE_RATE)
    flat: list[float] = []
    for offset in range(0, len(samples), step):
        piece = np.ascontiguousarray(samples[offset : offset + step])
        for chunk in get_speech_timestamps(piece, options):
            flat += [
                round((offset + chunk["start"]) / _SAMPLE_RATE, 3),
                round((offset + chunk["end"]) / _SAMPLE_RATE, 3),
            ]
    return flat
