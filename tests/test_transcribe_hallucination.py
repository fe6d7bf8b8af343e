"""Silence, hold music and line noise give empty transcripts; speech around them survives.

Real model, real clips from fixtures/speech, non-speech made with numpy (tests/asr_signals.py).
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from callscribe.audio import decode_call_audio
from callscribe.defaults import WHISPER_PROMPT
from callscribe.schema import CallAudio
from callscribe.transcribe import FasterWhisperEngine
from callscribe.transcribe.evaluate import character_errors, normalise_for_scoring
from callscribe.transcribe.postprocess import is_repetition_loop, to_simplified
from tests.asr_signals import hold_music, line_noise, load_clip, silence, write_wav
from tests.conftest import SPEECH

pytestmark = pytest.mark.model

FILLERS = {"silence": silence, "hold_music": hold_music, "line_noise": line_noise}
CLIP_A = ("BAC009S0002W0123.wav", "也成为地方政府的眼中钉")
CLIP_B = ("SSB00050015.wav", "经广州日报报道后成为了社会热点")


def call_of(samples: np.ndarray) -> CallAudio:
    return CallAudio(
        source="synthetic",
        channels=[samples.astype(np.float32)],
        sample_rate=16_000,
        original_sample_rate=16_000,
        speakers=[None],
        sha256="0" * 64,
    )


def with_options(engine: FasterWhisperEngine, **changes: object) -> FasterWhisperEngine:
    """The same loaded model with other decoding options (no second load)."""
    other = copy.copy(engine)
    other.options = dataclasses.replace(engine.options, **changes)  # type: ignore[arg-type]
    return other


@pytest.mark.parametrize("filler", sorted(FILLERS))
def test_a_minute_of_non_speech_gives_an_empty_transcript(
    base_transcriber: FasterWhisperEngine, filler: str
) -> None:
    transcript = base_transcriber.transcribe(call_of(FILLERS[filler](60.0)))
    assert transcript.segments == []
    assert transcript.text == ""
    assert transcript.duration == pytest.approx(60.0)


@pytest.mark.parametrize("filler", sorted(FILLERS))
def test_speech_around_a_minute_of_non_speech_is_kept_and_nothing_added(
    base_transcriber: FasterWhisperEngine, filler: str, tmp_path: Path
) -> None:
    wav = write_wav(
        tmp_path / f"{filler}.wav",
        load_clip(SPEECH / CLIP_A[0]),
        FILLERS[filler](60.0),
        load_clip(SPEECH / CLIP_B[0]),
    )
    transcript = base_transcriber.transcribe(decode_call_audio(wav))
    clip_a_end = 3.9
    filler_end = clip_a_end + 60.0
    inside = [s for s in transcript.segments if s.start > clip_a_end and s.end < filler_end]
    assert inside == [], f"text invented in the {filler}: {[s.text for s in inside]}"
    reference = CLIP_A[1] + CLIP_B[1]
    hypothesis = normalise_for_scoring(transcript.text)
    errors = character_errors(reference, hypothesis)
    assert errors / len(reference) < 0.35, hypothesis
    assert len(hypothesis) <= len(reference) + 3


def test_without_vad_the_prompt_echo_gate_still_catches_line_noise(
    base_transcriber: FasterWhisperEngine,
) -> None:
    """VAD off, the hotline prompt set (CALLSCRIBE_PROMPT; none by default): measured, Whisper
    repeats its prompt on noise; the no-speech gate drops it."""
    no_vad = with_options(base_transcriber, vad_filter=False, initial_prompt=WHISPER_PROMPT)
    raw_segments, _ = no_vad._model.transcribe(
        line_noise(20.0),
        language="zh",
        initial_prompt=no_vad.options.initial_prompt,
        condition_on_previous_text=False,
        vad_filter=False,
    )
    raw_texts = [s.text for s in raw_segments]
    transcript = no_vad.transcribe(call_of(line_noise(20.0)))
    assert transcript.text == "", f"Whisper said {raw_texts}, we kept {transcript.text!r}"


def test_the_vad_gate_decodes_nothing_where_nobody_speaks(
    base_transcriber: FasterWhisperEngine,
) -> None:
    clip = load_clip(SPEECH / CLIP_A[0])
    samples = np.concatenate([silence(20.0), clip, line_noise(20.0)])
    clips = base_transcriber.options.clips(samples)
    assert clips is not None and len(clips) >= 2
    starts, ends = clips[0::2], clips[1::2]
    assert min(starts) >= 19.0 and max(ends) <= 20.0 + len(clip) / 16_000 + 1.0
    assert base_transcriber.options.clips(line_noise(30.0)) == []


def test_every_turn_of_the_sample_call_is_transcribed(
    base_transcriber: FasterWhisperEngine,
) -> None:
    """The base model used to stop after two of the four turns when they shared a window."""
    from tests.conftest import CALLS

    transcript = base_transcriber.transcribe(decode_call_audio(CALLS / "sample_call_mono16k.wav"))
    text = normalise_for_scoring(transcript.text)
    reference = (
        "甚至出现交易几乎停滞的情况经广州日报报道后成为了社会热点"
        "广州市房地产中介协会分析也成为地方政府的眼中钉"
    )
    assert character_errors(reference, text) / len(reference) < 0.3, text
    assert "眼中钉" in text and "协会分析" in text
    assert "Ｇ" not in transcript.text
    assert all(s.text[-1] in "。！？，" for s in transcript.segments)


def test_decoding_does_not_condition_on_previous_text(
    base_transcriber: FasterWhisperEngine,
) -> None:
    """Conditioning on earlier text is how one hallucination feeds the next; it stays off."""
    assert base_transcriber.options.condition_on_previous_text is False
    assert base_transcriber.options.temperature[0] == 0.0


def _hiss(seconds: float) -> np.ndarray:
    return (np.random.default_rng(3).standard_normal(int(seconds * 16_000)) * 0.003).astype(
        np.float32
    )


LOOP_SIGNALS = {
    "digital_zeros": lambda: np.zeros(30 * 16_000, dtype=np.float32),
    "quiet_hiss": lambda: _hiss(30.0),
    "line_noise": lambda: line_noise(30.0),
}


@pytest.mark.parametrize("signal", sorted(LOOP_SIGNALS))
def test_the_loop_defences_alone_empty_what_whisper_loops_on(
    base_transcriber: FasterWhisperEngine, signal: str
) -> None:
    """VAD, prompt and temperature fallback off: measured, the base model writes text on these
    (在那里,在那里,… on hiss and line noise; 你不认识 on each window of digital zeros); the loop
    detector, the repeated-segment rule and the digital-silence floor are then all that stands
    between it and the transcript."""
    bare = with_options(base_transcriber, vad_filter=False, initial_prompt=None, temperature=(0.0,))
    samples = LOOP_SIGNALS[signal]()
    raw = [to_simplified(r.text) for r in bare.decode_window(samples)]
    assert raw, f"Whisper wrote nothing on {signal}: the test proves nothing"
    if signal != "digital_zeros":
        assert any(is_repetition_loop(text) for text in raw), f"no loop on {signal}: {raw}"
    transcript = bare.transcribe(call_of(samples))
    assert transcript.segments == [], f"Whisper said {raw[:3]}…, we kept {transcript.text!r}"
