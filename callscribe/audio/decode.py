"""Decode recorded calls with soundfile (libsndfile) or PyAV (FFmpeg), keeping channels apart."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import soundfile
import soxr

from callscribe import defaults
from callscribe.audio.fingerprint import fingerprint_file
from callscribe.errors import AudioDecodeError, AudioRejectedError
from callscribe.schema import CallAudio, Speaker

__all__ = ["decode_call_audio"]

log = logging.getLogger(__name__)

Samples = npt.NDArray[np.float32]


def decode_call_audio(
    path: Path,
    *,
    agent_channel: str = "left",
    max_seconds: float = defaults.MAX_CALL_SECONDS,
) -> CallAudio:
    """Decode a call recording into 16 kHz float32 channels.

    Two-channel recordings keep their channels apart (agent and caller); the role of each is
    set from ``agent_channel``. Mono recordings have no known speaker.

    Raises:
        AudioDecodeError: the file is missing, empty, cut short, or not audio we can read.
        AudioRejectedError: the audio is longer than ``max_seconds`` or holds no samples.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(f"{path.name}: no such file")
    if path.stat().st_size == 0:
        raise AudioDecodeError(f"{path.name}: file is empty")

    samples, rate, codec = _read(path)
    if samples.shape[0] == 0:
        raise AudioRejectedError(f"{path.name}: zero-length audio")
    duration = samples.shape[0] / rate
    if duration > max_seconds:
        raise AudioRejectedError(
            f"{path.name}: call is {duration:.0f} s long, over the {max_seconds:.0f} s maximum"
        )
    channels = [_resample(samples[:, i], rate) for i in range(min(samples.shape[1], 2))]
    speakers = _channel_roles(len(channels), agent_channel)
    return CallAudio(
        source=str(path),
        channels=channels,
        sample_rate=defaults.SAMPLE_RATE,
        original_sample_rate=rate,
        speakers=speakers,
        sha256=fingerprint_file(path),
        codec=codec,
    )


def _channel_roles(count: int, agent_channel: str) -> list[Speaker | None]:
    if count == 1:
        return [None]
    return ["agent", "caller"] if agent_channel == "left" else ["caller", "agent"]


def _read(path: Path) -> tuple[Samples, int, str]:
    """Return (frames x channels float32, sample rate, codec name)."""
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError):
        return _read_with_av(path)
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise AudioDecodeError(f"{path.name}: cannot decode {info.subtype} audio: {err}") from err
    expected = info.frames
    if expected > 0 and data.shape[0] < expected:
        raise AudioDecodeError(
            f"{path.name}: truncated, {data.shape[0]} of {expected} frames present"
        )
    return np.ascontiguousarray(data, dtype=np.float32), int(rate), str(info.subtype)


def _read_with_av(path: Path) -> tuple[Samples, int, str]:
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioDecodeError(f"{path.name}: no audio stream")
            stream = container.streams.audio[0]
            codec = stream.codec_context.name
            rate = int(stream.codec_context.sample_rate or 0)
            layout = stream.codec_context.layout.name if stream.codec_context.layout else "mono"
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate or None)
            chunks: list[Samples] = []
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().astype(np.float32))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().astype(np.float32))
    except AudioDecodeError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as err:
        raise AudioDecodeError(f"{path.name}: not a readable audio file ({err})") from err
    if not chunks or rate <= 0:
        raise AudioDecodeError(f"{path.name}: no audio frames could be decoded")
    planar = np.concatenate(chunks, axis=1)
    return np.ascontiguousarray(planar.T), rate, codec


def _resample(channel: Samples, rate: int) -> Samples:
    if rate == defaults.SAMPLE_RATE:
        return np.ascontiguousarray(channel, dtype=np.float32)
    out = soxr.resample(channel, rate, defaults.SAMPLE_RATE, quality="HQ")
    return np.asarray(out, dtype=np.float32)
