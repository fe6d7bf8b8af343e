"""Decode recorded calls with soundfile (libsndfile) or PyAV (FFmpeg), keeping channels apart.

What a file is comes from its content (:mod:`callscribe.audio.sniff`), not its name. Every
channel is resampled to 16 kHz once, with soxr's high-quality filter, and validated: empty,
cut short, too long and all-silent calls are refused with one line saying why.

Memory is bounded by the call's decoded output, whatever the source format: the recording is
read :data:`PIECE_FRAMES` frames at a time, each piece goes through one streaming soxr
resampler (sample for sample what resampling the whole call at once gives) and is written
straight into one float32 array per channel at 16 kHz, reserved from the header's length. The
source at its own rate is never held whole, so decoding a call takes its output arrays,
``channels x seconds x 16000 x 4`` bytes (a 2 h two-party call: 879 MiB), and a working set
under 32 MiB; a call past ``max_seconds`` is stopped there even when its header does not say
how long it is. docs/benchmarks.md ("Decoding memory") has the measurements.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
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

__all__ = ["PIECE_FRAMES", "SILENCE_DBFS", "decode_call_audio", "resample_to_16k"]

log = logging.getLogger(__name__)

Samples = npt.NDArray[np.float32]

SILENCE_DBFS = -55.0
"""A call whose every channel is quieter than this (RMS, dB full scale) holds nothing to hear."""

PIECE_FRAMES = 1 << 16
"""Frames read, checked and resampled at a time (1.4 s at 48 kHz, 8 s at 8 kHz)."""

_GROW_SAMPLES = 60 * defaults.SAMPLE_RATE
"""How far an output array grows when the file did not say how long it is."""

_SF_UNKNOWN_FRAMES = 2**63 - 1
"""What libsndfile reports as the length of a stream that does not state it (a FLAC whose
STREAMINFO says 0 samples, as live encoders write). libsndfile fails at the end of such a file,
so FFmpeg reads it, until its end or the limit."""

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
        max_seconds: longer calls are refused (as soon as the header or the decoding so far
            shows it, so a call never takes more memory than ``max_seconds`` of output).
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


def resample_to_16k(samples: Samples, rate: int) -> Samples:
    """Frames x channels at ``rate`` to 16 kHz, all channels at once (soxr, high quality)."""
    if rate == defaults.SAMPLE_RATE:
        return np.ascontiguousarray(samples, dtype=np.float32)
    out = soxr.resample(samples, rate, defaults.SAMPLE_RATE, quality="HQ")
    return np.asarray(out, dtype=np.float32).reshape(-1, samples.shape[1])


@dataclass
class _Decoded:
    """A whole call at 16 kHz, and what the source said about itself."""

    channels: list[Samples]
    rate: int
    frames: int
    codec: str
    dual_mono: bool


class _To16k:
    """Resample pieces to 16 kHz as they are decoded, into one growing array per channel.

    Args:
        rate: the source's sample rate.
        channels: 1 or 2, the width of every piece.
        expected_frames: the source's length as its header gives it (0 when unknown); the
            output arrays are reserved for it, and grow if the header was short.
        max_seconds: nothing longer is reserved, whatever the header says.
    """

    def __init__(self, rate: int, channels: int, expected_frames: int, max_seconds: float):
        self.rate = rate
        self.frames = 0
        self.dual_mono = channels == 2
        self._width = channels
        self._soxr = (
            None
            if rate == defaults.SAMPLE_RATE
            else soxr.ResampleStream(
                rate, defaults.SAMPLE_RATE, channels, dtype="float32", quality="HQ"
            )
        )
        seconds = max(0.0, min(expected_frames / rate, max_seconds))
        reserve = math.ceil(seconds * defaults.SAMPLE_RATE) + 1024 if math.isfinite(seconds) else 0
        self._out = [np.empty(reserve, dtype=np.float32) for _ in range(channels)]
        self._filled = 0

    def add(self, piece: Samples) -> None:
        """Take the next frames x channels piece at the source's rate."""
        piece = np.ascontiguousarray(piece, dtype=np.float32)
        self.frames += piece.shape[0]
        if self.dual_mono:
            self.dual_mono = bool(np.array_equal(piece[:, 0], piece[:, 1]))
        self._store(piece if self._soxr is None else self._soxr.resample_chunk(piece))

    def finish(self, codec: str) -> _Decoded:
        """Flush the resampler and give the arrays back trimmed to the call's length."""
        if self._soxr is not None:
            tail = np.zeros((0, self._width), dtype=np.float32)
            self._store(self._soxr.resample_chunk(tail, last=True))
        for out in self._out:
            out.resize(self._filled, refcheck=False)
        return _Decoded(self._out, self.rate, self.frames, codec, self.dual_mono)

    def _store(self, resampled: Samples) -> None:
        count = resampled.shape[0]
        end = self._filled + count
        for index, out in enumerate(self._out):
            if end > out.shape[0]:
                out.resize(end + _GROW_SAMPLES, refcheck=False)
            out[self._filled : end] = resampled[:, index]
        self._filled = end


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
    decoded = _read_16k(path, max_seconds=max_seconds, raw_format=raw_format)
    if decoded.frames == 0:
        raise AudioRejectedError(f"{path.name}: zero-length audio")
    _check_duration(path, decoded.frames / decoded.rate, max_seconds)
    channels = decoded.channels[:1] if decoded.dual_mono else decoded.channels
    if all(_rms_dbfs(c) < SILENCE_DBFS for c in channels):
        raise AudioRejectedError(f"{path.name}: all silence (below {SILENCE_DBFS:.0f} dBFS)")
    return CallAudio(
        source=str(path),
        channels=channels,
        sample_rate=defaults.SAMPLE_RATE,
        original_sample_rate=decoded.rate,
        speakers=_channel_roles(len(channels), agent_channel),
        sha256=fingerprint_file(path),
        codec=decoded.codec,
    )


def _read_16k(path: Path, *, max_seconds: float, raw_format: RawFormat | None) -> _Decoded:
    """Read the recording in pieces and resample it to 16 kHz (see the module's docstring).

    Raises:
        AudioDecodeError: as :func:`decode_call_audio`.
        AudioRejectedError: the header, or the decoding so far, says the call is longer than
            ``max_seconds``.
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
                log.info("libsndfile could not read a %s recording, trying FFmpeg", kind)
            else:
                raise
    return _read_with_av(path, max_seconds, sniffed=kind)


def _channel_roles(count: int, agent_channel: str) -> list[Speaker | None]:
    if count == 1:
        return [None]
    return ["agent", "caller"] if agent_channel == "left" else ["caller", "agent"]


def _rms_dbfs(channel: Samples) -> float:
    if channel.size == 0:
        return -np.inf
    energy = 0.0
    for start in range(0, channel.size, PIECE_FRAMES):
        piece = channel[start : start + PIECE_FRAMES].astype(np.float64)
        energy += float(np.dot(piece, piece))
    rms = math.sqrt(energy / channel.size)
    return 20.0 * math.log10(rms) if rms > 0 else -np.inf


def _check_duration(path: Path, seconds: float, max_seconds: float) -> None:
    if seconds > max_seconds:
        raise AudioRejectedError(
            f"{path.name}: call is {seconds:.0f} s long, over the {max_seconds:.0f} s maximum"
        )


def _resample_pieces(
    path: Path,
    pieces: Iterable[Samples],
    sink: _To16k,
    max_seconds: float,
) -> None:
    """Feed every piece to ``sink``, stopping as soon as the call runs past ``max_seconds``."""
    for piece in pieces:
        sink.add(piece)
        _check_duration(path, sink.frames / sink.rate, max_seconds)


def _soundfile_pieces(sound: soundfile.SoundFile) -> Iterator[Samples]:
    """The first two channels of an open libsndfile file, :data:`PIECE_FRAMES` at a time."""
    buffer = np.empty((PIECE_FRAMES, sound.channels), dtype=np.float32)
    while True:
        piece = sound.read(PIECE_FRAMES, out=buffer)
        if piece.shape[0] == 0:
            return
        yield piece[:, :2]


def _read_soundfile_stream(
    path: Path, sound: soundfile.SoundFile, expected_frames: int, max_seconds: float, codec: str
) -> _Decoded:
    rate = int(sound.samplerate)
    if rate <= 0 or sound.channels <= 0:
        raise AudioDecodeError(f"{path.name}: cannot decode: no sample rate or no channels")
    if sound.channels > 2:
        log.warning("a %d-channel recording: keeping the first two", sound.channels)
    sink = _To16k(rate, min(int(sound.channels), 2), expected_frames, max_seconds)
    _resample_pieces(path, _soundfile_pieces(sound), sink, max_seconds)
    return sink.finish(codec)


def _read_raw(path: Path, raw: RawFormat, max_seconds: float) -> _Decoded:
    frames = path.stat().st_size // raw.channels
    _check_duration(path, frames / raw.sample_rate, max_seconds)
    try:
        with soundfile.SoundFile(
            str(path),
            format="RAW",
            subtype=raw.subtype,
            samplerate=raw.sample_rate,
            channels=raw.channels,
        ) as sound:
            return _read_soundfile_stream(path, sound, frames, max_seconds, f"raw-{raw.subtype}")
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise AudioDecodeError(f"{path.name}: cannot decode raw {raw.encoding}: {err}") from err


def _read_with_soundfile(path: Path, max_seconds: float) -> _Decoded:
    try:
        with soundfile.SoundFile(str(path)) as sound:
            frames, rate = int(sound.frames), int(sound.samplerate)
            if frames == _SF_UNKNOWN_FRAMES:
                raise AudioDecodeError(f"{path.name}: cannot decode: the length is not stated")
            if frames > 0 and rate > 0:
                _check_duration(path, frames / rate, max_seconds)
            return _read_soundfile_stream(path, sound, frames, max_seconds, str(sound.subtype))
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise AudioDecodeError(f"{path.name}: cannot decode: {_one_line(err)}") from err


def _read_with_av(path: Path, max_seconds: float, sniffed: str | None) -> _Decoded:
    what = sniffed or "unrecognised content"
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioDecodeError(f"{path.name}: no audio stream ({what})")
            stream = container.streams.audio[0]
            if stream.codec_context is None:
                raise AudioDecodeError(f"{path.name}: unsupported audio codec ({what})")
            seconds = container.duration / av.time_base if container.duration else 0.0
            _check_duration(path, seconds, max_seconds)
            rate = int(stream.codec_context.sample_rate or 0)
            if rate <= 0:
                raise AudioDecodeError(f"{path.name}: no audio frames could be decoded ({what})")
            channels = min(int(stream.codec_context.channels or 1), 2)
            sink = _To16k(rate, channels, int(seconds * rate), max_seconds)
            _resample_pieces(
                path, _av_pieces(path, container, stream, channels, max_seconds), sink, max_seconds
            )
            decoded = sink.finish(stream.codec_context.name)
    except (AudioDecodeError, AudioRejectedError):
        raise
    except (av.error.FFmpegError, ValueError, OSError) as err:
        raise AudioDecodeError(
            f"{path.name}: not a readable audio file ({what}: {_one_line(err)})"
        ) from err
    if decoded.frames == 0:
        raise AudioDecodeError(f"{path.name}: no audio frames could be decoded ({what})")
    return decoded


def _av_pieces(
    path: Path,
    container: av.container.InputContainer,
    stream: av.audio.stream.AudioStream,
    channels: int,
    max_seconds: float,
) -> Iterator[Samples]:
    """Decoded frames as float32 frames x channels, refused once past ``max_seconds``."""
    rate = int(stream.codec_context.sample_rate)
    resampler = av.AudioResampler(
        format="fltp", layout="stereo" if channels == 2 else "mono", rate=rate
    )
    decoded = 0
    for frame in container.decode(stream):
        decoded += frame.samples
        if decoded / rate > max_seconds:
            _check_duration(path, decoded / rate, max_seconds)
        for out in resampler.resample(frame):
            yield out.to_ndarray().astype(np.float32).T
    for out in resampler.resample(None):
        yield out.to_ndarray().astype(np.float32).T


def _one_line(err: BaseException) -> str:
    """The error's text on one line, without the file path FFmpeg appends."""
    text = getattr(err, "strerror", None) or str(err)
    return " ".join(str(text).split()) or type(err).__name__
