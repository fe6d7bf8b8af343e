"""Upload intake, free of any web framework: size limit, content sniffing, same idempotency.

The HTTP layer (:mod:`callscribe.web.api.calls`) parses the request as it arrives and writes
the audio part into an :class:`UploadSpool`: a private folder under ``data_dir/uploads``, never
``TMPDIR``, that refuses the upload as soon as it passes the size limit and is removed with
everything in it when the upload ends, whatever the outcome. :func:`register_upload` then
decides what the file is from its first bytes (never its name) and registers it through
:func:`callscribe.intake.register.register_call_file`, the drop folder's own path.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from callscribe.audio.sniff import HEAD_BYTES, RawFormat, sniff_format
from callscribe.errors import (
    AudioDecodeError,
    IntakeRejected,
    MetadataError,
    UnsupportedAudio,
    UploadTooLarge,
)
from callscribe.intake.files import check_file_name
from callscribe.intake.metadata import normalize_metadata, parse_metadata_json
from callscribe.intake.register import register_call_file
from callscribe.ledger import CallLedger, CallRecord

__all__ = ["UploadSpool", "register_upload"]

_DEFAULT_NAME = "upload.audio"


class UploadSpool:
    """One uploaded recording while it arrives, in a private folder under ``data_dir/uploads``.

    Use it as a context manager: the folder and the file in it are removed on leaving, on
    success (registering copies the audio into ``data_dir/audio``) as on any error.

    Args:
        data_dir: the data directory (``CALLSCRIBE_DATA``).
        max_bytes: the most audio bytes accepted.
    """

    def __init__(self, data_dir: Path, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.folder = data_dir / "uploads" / secrets.token_hex(8)
        self.folder.mkdir(parents=True, exist_ok=False)
        self.path: Path | None = None
        self.size = 0
        self.head = b""
        self._out: BinaryIO | None = None

    def __enter__(self) -> UploadSpool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.discard()

    @property
    def name(self) -> str:
        """The file's name as kept (the client's, if safe)."""
        return self.path.name if self.path is not None else _DEFAULT_NAME

    def open(self, filename: str | None) -> None:
        """Start the file, under the client's name if it is safe.

        Raises:
            IntakeRejected: the name is unsafe (``../``, control characters, hidden), or a file
                was started already.
        """
        if self.path is not None:
            raise IntakeRejected("an upload holds one recording; a second one was sent")
        self.path = self.folder / _client_name(filename)
        self._out = self.path.open("xb")

    def write(self, chunks: Iterable[bytes]) -> None:
        """Append ``chunks``, counting them against the limit before they are written.

        Raises:
            UploadTooLarge: past ``max_bytes``; nothing more is written.
        """
        if self._out is None:
            raise IntakeRejected("upload data came before its file was started")
        for chunk in chunks:
            self.size += len(chunk)
            if self.size > self.max_bytes:
                raise UploadTooLarge(f"{self.name}: over the {self.max_bytes} byte upload limit")
            if len(self.head) < HEAD_BYTES:
                self.head += chunk[: HEAD_BYTES - len(self.head)]
            self._out.write(chunk)

    def finish(self) -> Path:
        """Close the file and return its path.

        Raises:
            AudioDecodeError: no file was started, or it is empty.
        """
        if self._out is not None:
            self._out.close()
            self._out = None
        if self.path is None or self.size == 0:
            raise AudioDecodeError(f"{self.name}: file is empty")
        return self.path

    def discard(self) -> None:
        """Close and remove the file and its folder."""
        if self._out is not None:
            self._out.close()
            self._out = None
        shutil.rmtree(self.folder, ignore_errors=True)


def register_upload(
    spool: UploadSpool,
    metadata_json: str | bytes | None,
    *,
    ledger: CallLedger,
    data_dir: Path,
) -> tuple[CallRecord, bool]:
    """Register a spooled upload. Returns (record, created).

    Raises:
        AudioDecodeError: the upload is empty.
        UnsupportedAudio: the content is no audio format we know (raw G.711 needs metadata
            naming its ``encoding`` and ``sample_rate``).
        MetadataError: the metadata field is too large, too deep, not a JSON object, or has a
            bad value (a ``call_id`` off the pattern, say).
        IntakeRejected: its ``call_id`` names other audio.
    """
    metadata = _metadata(metadata_json)
    path = spool.finish()
    if sniff_format(spool.head) is None and _raw_format(metadata) is None:
        raise UnsupportedAudio(
            f"{spool.name}: content is not a recognised audio format "
            f"(starts with {spool.head[:8].hex()}); raw G.711 needs metadata with "
            "encoding and sample_rate"
        )
    return register_call_file(path, ledger=ledger, data_dir=data_dir, metadata=metadata)


def _metadata(metadata_json: str | bytes | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if metadata_json:
        metadata = normalize_metadata(parse_metadata_json(metadata_json, "metadata"), "metadata")
    metadata.setdefault("source", "upload")
    return metadata


def _client_name(filename: str | None) -> str:
    """The client's file name if it is safe to keep; refused when it tries to leave the folder."""
    if not filename:
        return _DEFAULT_NAME
    if ".." in filename.replace("\\", "/").split("/"):
        raise IntakeRejected(f"{ascii(filename)}: file name holds '..'")
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    check_file_name(base)
    if base.startswith("."):
        raise IntakeRejected(f"{ascii(filename)}: hidden file names are not accepted")
    return base


def _raw_format(metadata: dict[str, Any]) -> RawFormat | None:
    try:
        return RawFormat.from_metadata(metadata)
    except ValueError as err:
        raise MetadataError(f"metadata: {err}") from err
