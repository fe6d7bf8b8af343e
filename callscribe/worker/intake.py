"""Register a call file: fingerprint it, keep a copy in the data directory, record it."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from callscribe.audio import fingerprint_file
from callscribe.errors import AudioDecodeError
from callscribe.ledger import CallLedger, CallRecord

__all__ = ["register_call_file"]

_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")
_SAFE_CALL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SAFE_NAME = re.compile(r"^[^\x00-\x1f\x7f/\\]{1,200}$")


def _stored_name(path: Path) -> str:
    """The recorder's file name when harmless (messages then name the file the user knows)."""
    name = path.name
    if _SAFE_NAME.match(name) and not name.startswith("."):
        return name
    suffix = path.suffix.lower() if _SAFE_SUFFIX.match(path.suffix) else ".audio"
    return f"call{suffix}"


def register_call_file(
    path: Path,
    *,
    ledger: CallLedger,
    data_dir: Path,
    metadata: dict[str, Any] | None = None,
) -> tuple[CallRecord, bool]:
    """Record ``path`` as a call and keep its audio under ``data_dir/audio``.

    The call id is the sidecar's ``call_id`` when given, else the SHA-256 of the audio bytes, so
    the same recording registered twice is one call. Returns (record, created).

    Raises:
        AudioDecodeError: the file is missing or empty, or the given call id is unusable.
    """
    if not path.is_file():
        raise AudioDecodeError(f"{path.name}: no such file")
    if path.stat().st_size == 0:
        raise AudioDecodeError(f"{path.name}: file is empty")
    metadata = dict(metadata or {})
    sha256 = fingerprint_file(path)
    call_id = str(metadata.get("call_id") or sha256)
    if not _SAFE_CALL_ID.match(call_id):
        raise AudioDecodeError(f"{path.name}: call_id {call_id!r} is not a usable identifier")
    existing = ledger.get(call_id)
    if existing is not None:
        return existing, False
    stored = data_dir / "audio" / call_id / _stored_name(path)
    stored.parent.mkdir(parents=True, exist_ok=True)
    if not stored.exists():
        tmp = stored.with_name(f".{stored.name}.tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, stored)
    return ledger.register(
        call_id,
        audio_path=str(stored.resolve()),
        source_name=path.name,
        sha256=sha256,
        metadata=metadata,
    )
