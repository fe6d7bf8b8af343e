"""Register a call file: fingerprint it, keep a copy, record it once.

The drop-folder watcher, the upload API and ``callscribe enqueue`` all come through
:func:`register_call_file`, so the three share one idempotency rule: a call is its sidecar's
``call_id`` when given, else the SHA-256 of the audio bytes. The same recording offered twice
is one call; a ``call_id`` reused for different audio is refused rather than silently merged.

The file comes from outside, so it is opened with
:func:`~callscribe.intake.files.open_regular` (a regular file only, no links, no blocking) and
read once, bounded. Its metadata, a sidecar's or the caller's, is read and checked by
:mod:`callscribe.intake.metadata`.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from callscribe.errors import AudioDecodeError, IntakeRejected
from callscribe.intake.files import display_name, open_regular
from callscribe.intake.metadata import normalize_metadata, read_sidecar, sidecar_for
from callscribe.ledger import CallLedger, CallRecord

__all__ = ["register_call_file"]

_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")
_CHUNK = 1 << 20


def register_call_file(
    path: Path,
    *,
    ledger: CallLedger,
    data_dir: Path,
    metadata: dict[str, Any] | None = None,
    max_bytes: int | None = None,
    source_name: str | None = None,
) -> tuple[CallRecord, bool]:
    """Record ``path`` as a call and keep its audio under ``data_dir/audio``.

    Returns (record, created): ``created`` is False when the call was known already (by its
    ``call_id``, or by the same audio bytes even under another ``call_id``), which makes
    this file a duplicate.
    ``source_name`` is the name to remember (default the file's own). With ``metadata`` None,
    a sidecar ``NAME.json`` beside the file is read (``callscribe enqueue``/``process``); the
    watcher and the upload API pass what they read themselves.

    The file is read once, from one descriptor: hashed while it is copied to a temporary file
    beside its final place, so what is fingerprinted is what is kept.

    Raises:
        AudioDecodeError: the file is missing or empty.
        IntakeRejected: not a regular file (a symlink, a directory, a named pipe), over
            ``max_bytes``, or its ``call_id`` names other audio.
        MetadataError: the metadata (or the sidecar) is unusable.
    """
    what = display_name(path.name)
    with open_regular(path, what, "file", IntakeRejected, missing=AudioDecodeError) as (fd, st):
        if st.st_size == 0:
            raise AudioDecodeError(f"{what}: file is empty")
        if max_bytes is not None and st.st_size > max_bytes:
            raise IntakeRejected(f"{what}: {st.st_size} bytes, over the {max_bytes} byte limit")
        if metadata is None:
            beside = sidecar_for(path)
            metadata = read_sidecar(beside, root=path.parent) if beside is not None else {}
        metadata = normalize_metadata(metadata, what)
        audio_dir = data_dir / "audio"
        audio_dir.mkdir(parents=True, exist_ok=True)
        tmp_fd, tmp_name = tempfile.mkstemp(dir=audio_dir, prefix=".incoming-", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(tmp_fd, "wb") as out:
                sha256 = _copy_hashing(fd, out, max_bytes, what)
            return _record(tmp, path, ledger, audio_dir, metadata, sha256, source_name)
        finally:
            tmp.unlink(missing_ok=True)


def _copy_hashing(fd: int, out: Any, max_bytes: int | None, what: str) -> str:
    """Copy the open file to ``out`` and return its SHA-256, counting against ``max_bytes``."""
    digest = hashlib.sha256()
    total = 0
    while chunk := os.read(fd, _CHUNK):
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise IntakeRejected(f"{what}: over the {max_bytes} byte limit")
        digest.update(chunk)
        out.write(chunk)
    if total == 0:
        raise AudioDecodeError(f"{what}: file is empty")
    return digest.hexdigest()


def _record(
    tmp: Path,
    path: Path,
    ledger: CallLedger,
    audio_dir: Path,
    metadata: dict[str, Any],
    sha256: str,
    source_name: str | None,
) -> tuple[CallRecord, bool]:
    given_id = metadata.get("call_id")
    call_id = str(given_id or sha256)
    existing = ledger.get(call_id)
    if existing is None:
        existing = ledger.find_by_sha256(sha256)
    if existing is not None:
        if given_id and existing.call_id == call_id and existing.sha256 != sha256:
            raise IntakeRejected(
                f"{display_name(path.name)}: call_id {call_id} is already registered for a "
                "different recording"
            )
        return existing, False
    suffix = path.suffix.lower() if _SAFE_SUFFIX.match(path.suffix) else ".audio"
    stored = audio_dir / f"{call_id}{suffix}"
    if not stored.exists():
        os.replace(tmp, stored)
    return ledger.register(
        call_id,
        audio_path=str(stored.resolve()),
        source_name=source_name or path.name,
        sha256=sha256,
        metadata=metadata,
    )
