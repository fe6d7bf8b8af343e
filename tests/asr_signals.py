"""Non-speech audio made with numpy, for the hallucination tests: silence, hold music, line noise.

Deterministic (fixed seeds), 16 kHz float32 mono, at levels a phone line really has.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

RATE = 16_000
Audio = npt.NDArray[np.float32]


def silence(seconds: float) -> Audio:
    """Digital silence with a trace of dither, as a recorder writes between turns."""
    rng = np.random.default_rng(1)
    return (rng.standard_normal(int(seconds * RATE)) * 1e-4).astype(np.float32)


def _note(freq: float, seconds: float) -> Audio:
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * freq * k * t) / k**1.5 for k in range(1, 6))
    attack = np.minimum(1.0, t / 0.02)
    decay = np.exp(-1.8 * t)
    return np.asarray(tone * attack * decay, dtype=np.float32)


def hold_music(seconds: float) -> Audio:
    """A looping I-V-vi-IV chord progression with a melody on top, like a hotline's queue."""
    chords = [
        (261.6, 329.6, 392.0),
        (196.0, 246.9, 392.0),
        (220.0, 261.6, 329.6),
        (174.6, 220.0, 349.2),
    ]
    melody = [523.3, 587.3, 659.3, 587.3, 523.3, 493.9, 440.0, 493.9]
    beat = 0.5
    out = np.zeros(int(seconds * RATE) + RATE, dtype=np.float32)
    n_beats = int(seconds / beat) + 1
    for i in range(n_beats):
        start = int(i * beat * RATE)
        if i % 4 == 0:
            chord = sum(_note(f, 4 * beat) for f in chords[(i // 4) % len(chords)])
            end = min(len(out), start + len(chord))
            out[start:end] += chord[: end - start] * 0.12
        lead = _note(melody[i % len(melody)], beat)
        end = min(len(out), start + len(lead))
        out[start:end] += lead[: end - start] * 0.15
    return out[: int(seconds * RATE)]


def line_noise(seconds: float) -> Audio:
    """Hiss (pinkish noise), 50 Hz mains hum with harmonics, and occasional crackle."""
    rng = np.random.default_rng(7)
    n = int(seconds * RATE)
    white = rng.standard_normal(n)
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[1:] /= np.sqrt(freqs[1:] / freqs[1])
    pink = np.fft.irfft(spectrum, n)
    pink *= 0.03 / (np.std(pink) or 1.0)
    t = np.arange(n) / RATE
    hum = sum(0.02 / k * np.sin(2 * np.pi * 50 * k * t) for k in (1, 2, 3, 5))
    clicks = np.zeros(n)
    where = rng.integers(0, n, size=int(seconds * 3))
    clicks[where] = rng.uniform(-0.3, 0.3, size=where.size)
    return np.asarray(pink + hum + clicks, dtype=np.float32)


def load_clip(path: Path) -> Audio:
    data, rate = sf.read(path, dtype="float32")
    assert rate == RATE, f"{path}: expected 16 kHz"
    return np.asarray(data, dtype=np.float32)


def write_wav(path: Path, *parts: Audio) -> Path:
    sf.write(path, np.concatenate(parts), RATE, subtype="PCM_16")
    return path
