"""Upload intake, free of any web framework: size limit, content sniffing, same idempotency.

The HTTP layer (:mod:`callscribe.web.api.calls`) hands over the request's file object;
this module streams it to a private folder under the data directory, refusing it as soon as it
passes the size limit, decides what it is from its first bytes (never its name), and registers
it through :func:`callscribe.intake.register.register_call_file`, the drop folder's own path.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any, BinaryIO

from callscribe.audio.sniff import HEAD_BYTES, RawFormat, sniff_format
from callscribe.errors import (
    AudioDecodeError,
    IntakeRejected,
    MetadataError,
    UnsupportedAudio,
    UploadTooLarge,
)
from callscribe.intake.register import (
    check_file_name,
    normalize_metadata,
    parse_metadata_json,
    register_call_file,
)
from callscribe.ledger import CallLedger, CallRecord

__all__ = ["receive_upload"]

_CHUNK = 1 << 20
_DEFAULT_NAME = "upload.audio"


def receive_upload(
    stream: BinaryIO,
    filename: str | None,
    metadata_json: str | bytes | None,
    *,
    ledger: CallLedger,
    data_dir: Path,
    max_bytes: int,
) -> tuple[CallRecord, bool]:
    """Register one uploaded recording. Returns (record, created).

    Raises:
        IntakeRejected: the file name is unsafe (``../``, control characters).
        UploadTooLarge: more than ``max_bytes``.
        UnsupportedAudio: the content is no audio format we know (raw G.711 needs metadata
            naming its ``encoding`` and ``sample_rate``).
        AudioDecodeError: the upload is empty.
        MetadataError: the metadata field is not a JSON object or has a bad value.
    """
    name = _client_name(filename)
    metadata: dict[str, Any] = {}
    if metadata_json:
        metadata = normalize_metadata(parse_metadata_json(metadata_json, "metadata"), "metadata")
    metadata.setdefault("source", "upload")
    spool = data_dir / "uploads" / secrets.token_hex(8)
    spool.mkdir(parents=True, exist_ok=False)
    try:
        path = spool / name
        head = _spool(stream, path, max_bytes)
        if not head:
            raise AudioDecodeError(f"{name}: file is empty")
        if sniff_format(head) is None:
            raw = _raw_format(metadata)
            if raw is None:
                raise UnsupportedAudio(
                    f"{name}: content is not a recognised audio format "
                    f"(starts with {head[:8].hex()}); raw G.711 needs metadata with "
                    "encoding and sample_rate"
                )
        return register_call_file(path, ledger=ledger, data_dir=data_dir, metadata=metadata)
    finally:
        shutil.rmtree(spool, ignore_errors=True)


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


def _spool(stream: BinaryIO, path: Path, max_bytes: int) -> bytes:
    """Copy the stream to ``path``, stopping past ``max_bytes``; return its first bytes."""
    total = 0
    head = b""
    with path.open("wb") as out:
        while chunk := stream.read(_CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise UploadTooLarge(f"{path.name}: over the {max_bytes} byte upload limit")
            if len(head) < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - len(head)]
            out.write(chunk)
    return head


def _raw_format(metadata: dict[str, Any]) -> RawFormat | None:
    try:
        return RawFormat.from_metadata(metadata)
    except ValueError as err:
        raise MetadataError(f"metadata: {err}") from err
