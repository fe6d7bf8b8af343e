"""Decode recorded calls with soundfile (libsndfile) or PyAV (FFmpeg), keeping channels apart.

What a file is comes from its content (:mod:`callscribe.audio.sniff`), not its name. Every
channel is resampled to 16 kHz once, with soxr's high-quality filter, and validated: empty,
cut short, too long and all-silent calls are refused with one line saying why.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import soundfile
import soxr

from callscribe import defaults
from callscribe.audio.fingerprint import fingerprint_file
from callscribe.audio.sniff import HEAD_BYTES, RawFormat, riff_truncation, sniff_format
from callscribe.errors import AudioDecodeError, AudioRejectedError
from callscribe.schema import CallAudio, Speaker

__all__ = ["SILENCE_DBFS", "decode_call_audio", "read_samples", "resample_to_16k"]

log = logging.getLogger(__name__)

Samples = npt.NDArray[np.float32]

SILENCE_DBFS = -55.0
"""A call whose every channel is quieter than this (RMS, dB full scale) holds nothing to hear."""

_SOUNDFILE_FORMATS = {"wav", "rf64", "aiff", "flac", "au", "caf"}


def decode_call_audio(
    path: Path,
    *,
    agent_channel: str = "left",
    max_seconds: float = defaults.MAX_CALL_SECONDS,
    raw_format: RawFormat | None = None,
    metadata: Mapping[str, Any] | None = None,
    display_name: str | None = None,
) -> CallAudio:
    """Decode a call recording into 16 kHz float32 channels.

    Two-channel recordings keep their channels apart (agent and caller); the role of each is
    set from ``agent_channel``. Mono recordings, and stereo files whose two channels are the
    same signal, have no known speaker.

    Args:
        path: the recording.
        agent_channel: ``left`` or ``right``: which channel of a stereo call is the agent.
        max_seconds: longer calls are refused.
        raw_format: for headerless G.711, its encoding and rate (from the sidecar).
        metadata: the call's sidecar metadata; its ``agent_channel`` (derived from
            ``channel_roles`` at intake) and raw G.711 format override the arguments.
        display_name: the name to give in errors (the file as the recorder named it, when
            ``path`` is the data directory's copy).

    Raises:
        AudioDecodeError: the file is missing, empty, cut short, or not audio we can read.
        AudioRejectedError: the audio is longer than ``max_seconds``, holds no samples, or is
            silent throughout.
    """
    path = Path(path)
    try:
        return _decode(path, agent_channel, max_seconds, raw_format, metadata)
    except (AudioDecodeError, AudioRejectedError) as err:
        message = str(err)
        if not display_name or not message.startswith(f"{path.name}: "):
            raise
        renamed = f"{display_name}: {message.removeprefix(f'{path.name}: ')}"
        raise type(err)(renamed.replace(str(path), display_name)) from err


def _decode(
    path: Path,
    agent_channel: str,
    max_seconds: float,
    raw_format: RawFormat | None,
    metadata: Mapping[str, Any] | None,
) -> CallAudio:
    if metadata:
        agent_channel = str(metadata.get("agent_channel") or agent_channel)
        try:
            raw_format = RawFormat.from_metadata(dict(metadata)) or raw_format
        except ValueError as err:
            raise AudioDecodeError(f"{path.name}: {err}") from err
    samples, rate, codec = read_samples(path, max_seconds=max_seconds, raw_format=raw_format)
    if samples.shape[0] == 0:
        raise AudioRejectedError(f"{path.name}: zero-length audio")
    _check_duration(path, samples.shape[0] / rate, max_seconds)
    if samples.shape[1] > 2:
        log.warning("%s: %d channels, keeping the first two", path.name, samples.shape[1])
        samples = samples[:, :2]
    if samples.shape[1] == 2 and np.array_equal(samples[:, 0], samples[:, 1]):
        samples = samples[:, :1]
    resampled = resample_to_16k(samples, rate)
    channels = [np.ascontiguousarray(resampled[:, i]) for i in range(resampled.shape[1])]
    if all(_rms_dbfs(c) < SILENCE_DBFS for c in channels):
        raise AudioRejectedError(f"{path.name}: all silence (below {SILENCE_DBFS:.0f} dBFS)")
    return CallAudio(
        source=str(path),
        channels=channels,
        sample_rate=defaults.SAMPLE_RATE,
        original_sample_rate=rate,
        speakers=_channel_roles(len(channels), agent_channel),
        sha256=fingerprint_file(path),
        codec=codec,
    )


def read_samples(
    path: Path,
    *,
    max_seconds: float = defaults.MAX_CALL_SECONDS,
    raw_format: RawFormat | None = None,
) -> tuple[Samples, int, str]:
    """Return (frames x channels float32 at the file's own rate, that rate, codec name).

    Raises:
        AudioDecodeError: as :func:`decode_call_audio`.
        AudioRejectedError: the header already says the call is longer than ``max_seconds``.
    """
    if path.is_symlink() or not path.is_file():
        raise AudioDecodeError(f"{path.name}: no such file")
    if path.stat().st_size == 0:
        raise AudioDecodeError(f"{path.name}: file is empty")
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    kind = sniff_format(head)
    if kind is None and raw_format is not None:
        return _read_raw(path, raw_format, max_seconds)
    if kind in ("wav", "rf64"):
        reason = riff_truncation(path)
        if reason is not None:
            raise AudioDecodeError(f"{path.name}: {reason}")
    if kind in _SOUNDFILE_FORMATS:
        try:
            return _read_with_soundfile(path, max_seconds)
        except AudioDecodeError:
            if kind in ("wav", "rf64", "aiff", "flac"):
                log.info("%s: libsndfile could not read it, trying FFmpeg", path.name)
            else:
                raise
    return _read_with_av(path, max_seconds, sniffed=kind)


def resample_to_16k(samples: Samples, rate: int) -> Samples:
    """Frames x channels at ``rate`` to 16 kHz, all channels at once (soxr, high quality)."""
    if rate == defaults.SAMPLE_RATE:
        return np.ascontiguousarray(samples, dtype=np.float32)
    out = soxr.resample(samples, rate, defaults.SAMPLE_RATE, quality="HQ")
    return np.asarray(out, dtype=np.float32).reshape(-1, samples.shape[1])


def _channel_roles(count: int, agent_channel: str) -> list[Speaker | None]:
    if count == 1:
        return [None]
    return ["agent", "caller"] if agent_channel == "left" else ["caller", "agent"]


def _rms_dbfs(channel: Samples) -> float:
    if channel.size == 0:
        return -np.inf
    rms = float(np.sqrt(np.mean(np.square(channel, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 0 else -np.inf


def _check_duration(path: Path, seconds: float, max_seconds: float) -> None:
    if seconds > max_seconds:
        raise AudioRejectedError(
            f"{path.name}: call is {seconds:.0f} s long, over the {max_seconds:.0f} s maximum"
        )


def _read_raw(path: Path, raw: RawFormat, max_seconds: float) -> tuple[Samples, int, str]:
    frames = path.stat().st_size // raw.channels
    _check_duration(path, frames / raw.sample_rate, max_seconds)
    try:
        data, rate = soundfile.read(
            str(path),
            format="RAW",
            subtype=raw.subtype,
            samplerate=raw.sample_rate,
            channels=raw.channels,
            dtype="float32",
            always_2d=True,
        )
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise AudioDecodeError(f"{path.name}: cannot decode raw {raw.encoding}: {err}") from err
    return np.ascontiguousarray(data, dtype=np.float32), int(rate), f"raw-{raw.subtype}"


def _read_with_soundfile(path: Path, max_seconds: float) -> tuple[Samples, int, str]:
    try:
        info = soundfile.info(str(path))
        if info.frames > 0 and info.samplerate > 0:
            _check_duration(path, info.frames / info.samplerate, max_seconds)
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise AudioDecodeError(f"{path.name}: cannot decode: {_one_line(err)}") from err
    return np.ascontiguousarray(data, dtype=np.float32), int(rate), str(info.subtype)


def _read_with_av(path: Path, max_seconds: float, sniffed: str | None) -> tuple[Samples, int, str]:
    what = sniffed or "unrecognised content"
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioDecodeError(f"{path.name}: no audio stream ({what})")
            stream = container.streams.audio[0]
            if stream.codec_context is None:
                raise AudioDecodeError(f"{path.name}: unsupported audio codec ({what})")
            if container.duration:
                _check_duration(path, container.duration / av.time_base, max_seconds)
            codec = stream.codec_context.name
            rate = int(stream.codec_context.sample_rate or 0)
            channels = min(int(stream.codec_context.channels or 1), 2)
            layout = "stereo" if channels == 2 else "mono"
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate or None)
            chunks: list[Samples] = []
            decoded = 0
            for frame in container.decode(stream):
                decoded += frame.samples
                if rate and decoded / rate > max_seconds:
                    _check_duration(path, decoded / rate, max_seconds)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().astype(np.float32))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().astype(np.float32))
    except (AudioDecodeError, AudioRejectedError):
        raise
    except (av.error.FFmpegError, ValueError, OSError) as err:
        raise AudioDecodeError(
            f"{path.name}: not a readable audio file ({what}: {_one_line(err)})"
        ) from err
    if not chunks or rate <= 0:
        raise AudioDecodeError(f"{path.name}: no audio frames could be decoded ({what})")
    planar = np.concatenate(chunks, axis=1)
    return np.ascontiguousarray(planar.T), rate, codec


def _one_line(err: BaseException) -> str:
    """The error's text on one line, without the file path FFmpeg appends."""
    text = getattr(err, "strerror", None) or str(err)
    return " ".join(str(text).split()) or type(err).__name__
