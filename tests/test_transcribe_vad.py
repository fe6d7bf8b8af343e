"""The VAD reads a long channel in pieces and finds the same speech as when read whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from callscribe.transcribe.vad import speech_clips
from tests.conftest import FIXTURES

OPTIONS = {"threshold": 0.5, "min_silence_ms": 500, "speech_pad_ms": 400, "max_clip_s": 29.0}


def _channel() -> npt.NDArray[np.float32]:
    """Six real clips (16 kHz) with 1.5 s of silence after each: about 40 s."""
    paths = sorted((FIXTURES / "speech").glob("*.wav"))[:6]
    parts = []
    for path in paths:
        samples, rate = soundfile.read(Path(path), dtype="float32", always_2d=True)
        assert rate == 16_000
        parts += [samples[:, 0], np.zeros(24_000, dtype=np.float32)]
    return np.concatenate(parts)


def _covered(flat: list[float], step: float = 0.01) -> set[int]:
    return {
        i
        for start, end in zip(flat[::2], flat[1::2], strict=True)
        for i in range(round(start / step), round(end / step))
    }


@pytest.fixture(scope="module")
def channel() -> npt.NDArray[np.float32]:
    return _channel()


def test_reading_in_pieces_finds_the_speech_read_whole_finds(
    channel: npt.NDArray[np.float32],
) -> None:
    whole = speech_clips(channel, **OPTIONS, chunk_s=3600.0)
    pieces = speech_clips(channel, **OPTIONS, chunk_s=7.0)
    assert len(whole) >= 12, whole
    covered_whole, covered_pieces = _covered(whole), _covered(pieces)
    differ = len(covered_whole ^ covered_pieces) / len(covered_whole)
    assert differ < 0.05, (whole, pieces)


def test_speech_cut_at_a_piece_edge_comes_back_as_clips_that_touch(
    channel: npt.NDArray[np.float32],
) -> None:
    whole = speech_clips(channel, **OPTIONS, chunk_s=3600.0)
    first_start, first_end = whole[0], whole[1]
    edge = (first_start + first_end) / 2
    pieces = speech_clips(channel, **OPTIONS, chunk_s=edge)
    ends, starts = pieces[1::2], pieces[2::2]
    assert any(abs(end - edge) < 0.05 for end in ends), pieces
    assert any(abs(start - edge) < 0.05 for start in starts), pieces


def test_silence_has_no_speech() -> None:
    assert speech_clips(np.zeros(16_000 * 20, dtype=np.float32), **OPTIONS, chunk_s=7.0) == []
