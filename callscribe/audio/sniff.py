"""Tell an audio file's format from its first bytes, never from its name.

Recorders and uploaders name files carelessly (``.wav`` holding MP3, no extension at all), so
intake decides what a file is from its content. Raw G.711 has no header at all; it is accepted
only when the caller says so (a sidecar naming its encoding and sample rate).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HEAD_BYTES", "RAW_ENCODINGS", "RawFormat", "riff_truncation", "sniff_format"]

HEAD_BYTES = 64
"""How many leading bytes :func:`sniff_format` needs."""

RAW_ENCODINGS = {"ulaw": "ULAW", "mulaw": "ULAW", "pcmu": "ULAW", "alaw": "ALAW", "pcma": "ALAW"}
"""Sidecar ``encoding`` values for headerless G.711, to libsndfile subtypes."""

_MP3_SYNC = {0xE2, 0xE3, 0xF2, 0xF3, 0xFA, 0xFB}
_ADTS_SYNC = {0xF0, 0xF1, 0xF8, 0xF9}


@dataclass(frozen=True)
class RawFormat:
    """Headerless G.711 as a sidecar describes it."""

    encoding: str
    sample_rate: int
    channels: int = 1

    @property
    def subtype(self) -> str:
        return RAW_ENCODINGS[self.encoding]

    @classmethod
    def from_metadata(cls, metadata: dict[str, object]) -> RawFormat | None:
        """The raw format a sidecar declares, or None when it declares none.

        Raises:
            ValueError: the sidecar names an encoding or rate we cannot use (message says which).
        """
        encoding = metadata.get("encoding")
        if encoding is None:
            return None
        name = str(encoding).lower()
        if name not in RAW_ENCODINGS:
            raise ValueError(f"encoding {encoding!r} is not raw G.711 (ulaw or alaw)")
        rate = metadata.get("sample_rate")
        if not isinstance(rate, int) or isinstance(rate, bool) or not 4_000 <= rate <= 48_000:
            raise ValueError(f"sample_rate {rate!r} must be an integer between 4000 and 48000")
        channels = metadata.get("channels", 1)
        if channels not in (1, 2):
            raise ValueError(f"channels {channels!r} must be 1 or 2")
        return cls(encoding=name, sample_rate=rate, channels=int(str(channels)))


_PREFIXES = (
    (b"fLaC", "flac"),
    (b"OggS", "ogg"),
    (b"#!AMR-WB\n", "amr-wb"),
    (b"#!AMR\n", "amr-nb"),
    (b"caff", "caf"),
    (b"\x1a\x45\xdf\xa3", "matroska"),
    (b".snd", "au"),
    (b"ID3", "mp3"),
)
_RIFF_LIKE = {
    (b"RIFF", b"WAVE"): "wav",
    (b"RF64", b"WAVE"): "rf64",
    (b"BW64", b"WAVE"): "rf64",
    (b"FORM", b"AIFF"): "aiff",
    (b"FORM", b"AIFC"): "aiff",
}


def sniff_format(head: bytes) -> str | None:
    """The container or stream format the bytes start with, or None when unrecognised."""
    if len(head) < 4:
        return None
    riff = _RIFF_LIKE.get((head[:4], head[8:12]))
    if riff is not None:
        return riff
    for prefix, kind in _PREFIXES:
        if head.startswith(prefix):
            return kind
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[0] == 0xFF and head[1] in _MP3_SYNC:
        return "mp3"
    if head[0] == 0xFF and head[1] in _ADTS_SYNC:
        return "aac"
    return None


def riff_truncation(path: Path) -> str | None:
    """For a RIFF/WAVE file, why it is cut short (None when whole or not RIFF).

    libsndfile quietly reads what is there when a WAV file ends early; a recorder that died
    mid-call leaves such a file, and we would rather say so than transcribe half a call.
    A data size of 0 or 0xFFFFFFFF is a streaming recorder's "unknown", not truncation.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        offset = 12
        while offset + 8 <= size:
            handle.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                available = size - offset - 8
                if chunk_size not in (0, 0xFFFFFFFF) and chunk_size > available:
                    return (
                        f"truncated: the header declares {chunk_size} bytes of audio, "
                        f"the file holds {available}"
                    )
                return None
            offset += 8 + chunk_size + (chunk_size & 1)
    return "truncated header: no audio data chunk"
