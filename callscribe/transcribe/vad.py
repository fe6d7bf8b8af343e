"""Where the speech is: Silero VAD (bundled with faster-whisper), shared by both engines.

The stretches of speech of every channel are packed into Whisper windows (transcribe/windows.py),
so nothing is decoded where nobody speaks; a clip the model skipped in its window is decoded
again on its own (transcribe/engine.py).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["speech_clips"]

_SAMPLE_RATE = 16_000


def speech_clips(
    samples: npt.NDArray[np.float32],
    *,
    threshold: float,
    min_silence_ms: int,
    speech_pad_ms: int,
    max_clip_s: float,
) -> list[float]:
    """Start and end seconds of each stretch of speech, flat (``[s0, e0, s1, e1, ...]``).

    Empty means no speech. Stretches are split at pauses of ``min_silence_ms``; the window
    planner places each one whole and joins only those that touch.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    chunks = get_speech_timestamps(
        samples,
        VadOptions(
            threshold=threshold,
            min_silence_duration_ms=min_silence_ms,
            speech_pad_ms=speech_pad_ms,
            max_speech_duration_s=max_clip_s,
        ),
    )
    return [round(chunk[key] / _SAMPLE_RATE, 3) for chunk in chunks for key in ("start", "end")]
