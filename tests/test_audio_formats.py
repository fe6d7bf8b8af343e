"""Every telephone format decodes to 16 kHz; bad files get one line naming the file and why."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile

from callscribe.audio import decode_call_audio
from callscribe.audio.sniff import RawFormat, sniff_format
from callscribe.errors import AudioDecodeError, AudioRejectedError, PermanentError
from tests.conftest import CALLS

FORMATS = CALLS / "formats"
CLIP_SECONDS = 3.43
LOSSLESS = [
    "turn_pcm16_8k.wav",
    "turn_pcm24_8k.wav",
    "turn_pcm32_8k.wav",
    "turn_float32_8k.wav",
    "turn_flac_8k.flac",
]
COMPANDED = [
    "turn_pcm8_8k.wav",
    "turn_mulaw_8k.wav",
    "turn_alaw_8k.wav",
    "turn_g711u_8k.ulaw",
    "turn_g711a_8k.alaw",
]
LOSSY = [
    "turn_mp3_8k.mp3",
    "turn_amr_8k.amr",
    "turn_amrwb_16k.awb",
    "turn_m4a_8k.m4a",
    "turn_opus_8k.opus",
]


def _decode(path: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    sidecar = path.with_suffix(".json")
    metadata = json.loads(sidecar.read_text()) if sidecar.exists() else None
    return decode_call_audio(path, metadata=metadata, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def reference_16k() -> np.ndarray:
    return _decode(FORMATS / "turn_pcm16_8k.wav").channels[0]


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Peak normalised cross-correlation within +-50 ms (codecs add a little delay)."""
    n = min(len(a), len(b))
    best = 0.0
    for lag in range(-800, 801, 8):
        x = a[max(0, lag) : n + min(0, lag)]
        y = b[max(0, -lag) : n - max(0, lag)]
        m = min(len(x), len(y))
        x, y = x[:m], y[:m]
        best = max(best, float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-9)))
    return best


def _envelope_similarity(a: np.ndarray, b: np.ndarray, frame: int = 320) -> float:
    """Correlation of 20 ms loudness envelopes within +-300 ms: CELP and AAC keep the
    speech, not the waveform."""

    def envelope(x: np.ndarray) -> np.ndarray:
        frames = x[: len(x) // frame * frame].reshape(-1, frame)
        return np.log10(np.mean(frames**2, axis=1) + 1e-8)

    ea, eb = envelope(a), envelope(b)
    best = 0.0
    for lag in range(-15, 16):
        x = ea[max(0, lag) :]
        y = eb[max(0, -lag) :]
        m = min(len(x), len(y))
        best = max(best, float(np.corrcoef(x[:m], y[:m])[0, 1]))
    return best


def test_every_listed_format_has_a_fixture_with_its_reference() -> None:
    for name in LOSSLESS + COMPANDED + LOSSY:
        assert (FORMATS / name).is_file(), name
        reference = FORMATS / (name.split(".")[0] + ".reference.json")
        assert json.loads(reference.read_text(encoding="utf-8"))["text"]


@pytest.mark.parametrize("name", LOSSLESS + COMPANDED + LOSSY)
def test_each_format_decodes_to_the_same_speech_at_16k(name: str, reference_16k) -> None:  # type: ignore[no-untyped-def]
    audio = _decode(FORMATS / name)
    assert audio.sample_rate == 16_000
    assert len(audio.channels) == 1 and audio.speakers == [None]
    assert audio.original_sample_rate in (8_000, 16_000, 48_000)
    assert audio.duration == pytest.approx(CLIP_SECONDS, abs=0.2)
    if name in LOSSY:
        assert _envelope_similarity(audio.channels[0], reference_16k) > 0.9
    else:
        floor = 0.999 if name in LOSSLESS else 0.98
        assert _similarity(audio.channels[0], reference_16k) > floor


def test_raw_g711_without_its_sidecar_rate_is_refused(tmp_path: Path) -> None:
    raw = tmp_path / "call.ulaw"
    shutil.copy(FORMATS / "turn_g711u_8k.ulaw", raw)
    with pytest.raises(AudioDecodeError, match=r"call\.ulaw: not a readable audio file"):
        decode_call_audio(raw)
    with pytest.raises(AudioDecodeError, match="sample_rate"):
        decode_call_audio(raw, metadata={"encoding": "ulaw", "sample_rate": "8k"})


def test_content_decides_not_the_extension(tmp_path: Path) -> None:
    disguised = tmp_path / "recording.wav"
    shutil.copy(FORMATS / "turn_mp3_8k.mp3", disguised)
    assert sniff_format(disguised.read_bytes()[:64]) == "mp3"
    assert decode_call_audio(disguised).duration == pytest.approx(CLIP_SECONDS, abs=0.2)


def test_stereo_call_keeps_agent_and_caller_apart() -> None:
    path = CALLS / "call_stereo8k_mulaw.wav"
    audio = decode_call_audio(path)
    assert audio.original_sample_rate == 8_000 and audio.codec == "ULAW"
    assert len(audio.channels) == 2 and audio.speakers == ["agent", "caller"]
    assert decode_call_audio(path, agent_channel="right").speakers == ["caller", "agent"]
    by_sidecar = decode_call_audio(path, metadata={"agent_channel": "right"})
    assert by_sidecar.speakers == ["caller", "agent"]
    turns = json.loads(path.with_name("call_stereo8k_mulaw.reference.json").read_text())["turns"]
    first = turns[0]
    span = slice(int(first["start"] * 16_000), int(first["end"] * 16_000))
    agent_rms = float(np.sqrt(np.mean(audio.channels[0][span] ** 2)))
    caller_rms = float(np.sqrt(np.mean(audio.channels[1][span] ** 2)))
    assert agent_rms > 20 * caller_rms


def test_dual_mono_stereo_is_treated_as_mono(tmp_path: Path) -> None:
    mono, rate = soundfile.read(FORMATS / "turn_pcm16_8k.wav", dtype="int16")
    path = tmp_path / "dual.wav"
    soundfile.write(path, np.stack([mono, mono], axis=1), rate, subtype="PCM_16")
    assert decode_call_audio(path).speakers == [None]


def _wav_header(data_bytes: int, fmt_tag: int = 1, rate: int = 8000, bits: int = 16) -> bytes:
    block = bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, 1, rate, rate * block, block, bits)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def _bad_files(tmp: Path) -> dict[str, tuple[Path, type[PermanentError], str]]:
    good = (FORMATS / "turn_pcm16_8k.wav").read_bytes()
    cases: dict[str, tuple[Path, type[PermanentError], str]] = {}

    def make(name: str, data: bytes, error: type[PermanentError], reason: str) -> None:
        path = tmp / name
        path.write_bytes(data)
        cases[name] = (path, error, reason)

    make("empty.wav", b"", AudioDecodeError, "file is empty")
    make("zero_length.wav", _wav_header(0), AudioRejectedError, "zero-length audio")
    make("cut_header.wav", good[:30], AudioDecodeError, "truncated header")
    make("cut_data.wav", good[: len(good) // 2], AudioDecodeError, "truncated")
    make(
        "notes.wav",
        "这不是录音，是一封信。\n".encode() * 50,
        AudioDecodeError,
        "not a readable audio file",
    )
    make(
        "g729.wav",
        _wav_header(1600, fmt_tag=0x0133) + bytes(1600),
        AudioDecodeError,
        "unsupported audio codec",
    )
    silence = np.zeros(8000 * 3, dtype=np.int16)
    path = tmp / "silence.wav"
    soundfile.write(path, silence, 8000, subtype="PCM_16")
    cases["silence.wav"] = (path, AudioRejectedError, "all silence")
    return cases


def test_bad_files_each_get_one_line_naming_the_file_and_the_reason(tmp_path: Path) -> None:
    for name, (path, error, reason) in _bad_files(tmp_path).items():
        with pytest.raises(error) as caught:
            decode_call_audio(path)
        message = str(caught.value)
        assert "\n" not in message, message
        assert message.startswith(f"{name}: "), message
        assert reason in message, message


def test_too_long_is_refused_from_the_header_without_reading_two_gigabytes(tmp_path: Path) -> None:
    huge = tmp_path / "recorder_left_running.wav"
    size = 2 * 1024**3
    with huge.open("wb") as handle:
        handle.write(_wav_header(size - 44))
        handle.truncate(size)
    with pytest.raises(AudioRejectedError, match=r"recorder_left_running\.wav: call is 134218 s"):
        decode_call_audio(huge, max_seconds=7200)
    long_enough = FORMATS / "turn_pcm16_8k.wav"
    with pytest.raises(AudioRejectedError, match="over the 2 s maximum"):
        decode_call_audio(long_enough, max_seconds=2)


def test_raw_format_sidecar_values_are_checked() -> None:
    assert RawFormat.from_metadata({"encoding": "alaw", "sample_rate": 8000}) == RawFormat(
        "alaw", 8000, 1
    )
    assert RawFormat.from_metadata({"call_id": "x"}) is None
    with pytest.raises(ValueError, match="not raw G.711"):
        RawFormat.from_metadata({"encoding": "g729", "sample_rate": 8000})


def test_errors_name_the_file_as_the_recorder_named_it(tmp_path: Path) -> None:
    stored = tmp_path / "var" / "audio" / ("ab" * 32 + ".mp3")
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"\x00" * 64)
    with pytest.raises(AudioDecodeError) as caught:
        decode_call_audio(stored, display_name="recording.mp3")
    message = str(caught.value)
    assert message.startswith("recording.mp3: not a readable audio file"), message
    assert str(tmp_path) not in message and "ab" * 32 not in message
