"""Register a call file: read its sidecar, fingerprint it, keep a copy, record it once.

The drop-folder watcher, the upload API and ``callscribe enqueue`` all come through
:func:`register_call_file`, so the three share one idempotency rule: a call is its sidecar's
``call_id`` when given, else the SHA-256 of the audio bytes. The same recording offered twice
is one call; a ``call_id`` reused for different audio is refused rather than silently merged.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any

from callscribe.audio import fingerprint_file
from callscribe.audio.sniff import RawFormat
from callscribe.errors import AudioDecodeError, IntakeRejected, MetadataError
from callscribe.ledger import CallLedger, CallRecord

__all__ = [
    "KNOWN_SIDECAR_KEYS",
    "SIDECAR_MAX_BYTES",
    "check_file_name",
    "normalize_metadata",
    "parse_metadata_json",
    "read_sidecar",
    "register_call_file",
    "sidecar_for",
]

KNOWN_SIDECAR_KEYS = (
    "call_id",
    "caller_number",
    "started_at",
    "agent_id",
    "channel_roles",
    "priority",
    "encoding",
    "sample_rate",
    "channels",
)
"""Keys the intake understands; any other key is kept as it is."""

SIDECAR_MAX_BYTES = 64 * 1024
"""Bytes. A sidecar larger than this is not metadata."""

_PATH_KEYS = ("audio", "audio_file", "file", "path", "recording")
_PRIORITIES = ("normal", "urgent")
_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")
_SAFE_CALL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


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

    Raises:
        AudioDecodeError: the file is missing or empty.
        IntakeRejected: a symlink, over ``max_bytes``, or its ``call_id`` names other audio.
        MetadataError: the metadata has an unusable value.
    """
    if path.is_symlink():
        raise IntakeRejected(f"{path.name}: is a symbolic link; copy the recording itself")
    if not path.is_file():
        raise AudioDecodeError(f"{path.name}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise AudioDecodeError(f"{path.name}: file is empty")
    if max_bytes is not None and size > max_bytes:
        raise IntakeRejected(f"{path.name}: {size} bytes, over the {max_bytes} byte limit")
    if metadata is None:
        beside = sidecar_for(path)
        metadata = read_sidecar(beside, root=path.parent) if beside is not None else {}
    metadata = normalize_metadata(metadata, path.name)
    sha256 = fingerprint_file(path)
    given_id = metadata.get("call_id")
    call_id = str(given_id or sha256)
    existing = ledger.get(call_id)
    if existing is None:
        existing = ledger.find_by_sha256(sha256)
    if existing is not None:
        if given_id and existing.call_id == call_id and existing.sha256 != sha256:
            raise IntakeRejected(
                f"{path.name}: call_id {call_id} is already registered for a different recording"
            )
        return existing, False
    suffix = path.suffix.lower() if _SAFE_SUFFIX.match(path.suffix) else ".audio"
    stored = data_dir / "audio" / f"{call_id}{suffix}"
    stored.parent.mkdir(parents=True, exist_ok=True)
    if not stored.exists():
        tmp = stored.with_name(f".{stored.name}.tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, stored)
    return ledger.register(
        call_id,
        audio_path=str(stored.resolve()),
        source_name=source_name or path.name,
        sha256=sha256,
        metadata=metadata,
    )


def check_file_name(name: str) -> None:
    """Refuse names that could escape a folder or break a log line.

    Raises:
        IntakeRejected: the name is empty, ``.``/``..``, holds a path separator, ``..`` as a
            component, NUL, or any control character.
    """
    shown = ascii(name)
    if not name or name in (".", ".."):
        raise IntakeRejected(f"{shown}: not a file name")
    if "/" in name or "\\" in name:
        raise IntakeRejected(f"{shown}: file name holds a path separator")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise IntakeRejected(f"{shown}: file name holds control characters")
    if len(name.encode("utf-8", "surrogateescape")) > 255:
        raise IntakeRejected(f"{shown[:60]}...: file name is too long")


def sidecar_for(audio: Path) -> Path | None:
    """The sidecar beside ``audio``: ``NAME.json`` for ``NAME.ext`` (or ``NAME.ext.json``)."""
    for candidate in (audio.with_suffix(".json"), audio.with_name(audio.name + ".json")):
        if candidate != audio and (candidate.exists() or candidate.is_symlink()):
            return candidate
    return None


def read_sidecar(sidecar: Path, *, root: Path) -> dict[str, Any]:
    """Read a sidecar that must lie in ``root`` and may only point inside it.

    Raises:
        MetadataError: a symlink, outside ``root``, too large, not a JSON object, or a path
            value that leads out of ``root``.
    """
    if sidecar.is_symlink():
        raise MetadataError(f"{sidecar.name}: sidecar is a symbolic link")
    root = root.resolve()
    if not sidecar.resolve().is_relative_to(root):
        raise MetadataError(f"{sidecar.name}: sidecar lies outside the inbox")
    if sidecar.stat().st_size > SIDECAR_MAX_BYTES:
        raise MetadataError(f"{sidecar.name}: sidecar is over {SIDECAR_MAX_BYTES} bytes")
    data = parse_metadata_json(sidecar.read_bytes(), sidecar.name)
    for key in _PATH_KEYS:
        value = data.get(key)
        if isinstance(value, str) and not (root / value).resolve().is_relative_to(root):
            raise MetadataError(f"{sidecar.name}: {key} {value!r} points outside the inbox")
    return data


def parse_metadata_json(raw: bytes | str, what: str) -> dict[str, Any]:
    """A JSON object from a sidecar or an upload's metadata field.

    Raises:
        MetadataError: not UTF-8, not JSON, or not an object; the message gives line and column.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text)
    except UnicodeDecodeError as err:
        raise MetadataError(f"{what}: metadata is not UTF-8 text") from err
    except json.JSONDecodeError as err:
        raise MetadataError(
            f"{what}: bad JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from err
    if not isinstance(data, dict):
        raise MetadataError(f"{what}: metadata must be a JSON object, not {type(data).__name__}")
    return data


def normalize_metadata(metadata: dict[str, Any], what: str) -> dict[str, Any]:
    """Check the known keys, keep unknown ones, and derive ``agent_channel`` from roles.

    Raises:
        MetadataError: a known key has a value we cannot use; the message names it.
    """
    out = dict(metadata)
    call_id = out.get("call_id")
    if call_id is not None and (not isinstance(call_id, str) or not _SAFE_CALL_ID.match(call_id)):
        raise MetadataError(
            f"{what}: call_id {call_id!r} must be 1-128 letters, digits, '.', '_' or '-'"
        )
    started_at = out.get("started_at")
    if started_at is not None:
        try:
            datetime.fromisoformat(str(started_at))
        except ValueError as err:
            raise MetadataError(f"{what}: started_at {started_at!r} is not ISO 8601") from err
    priority = out.get("priority")
    if priority is not None and priority not in _PRIORITIES:
        raise MetadataError(f"{what}: priority {priority!r} must be one of {list(_PRIORITIES)}")
    roles = out.get("channel_roles")
    if roles is not None:
        out["agent_channel"] = _agent_channel(roles, what)
    try:
        RawFormat.from_metadata(out)
    except ValueError as err:
        raise MetadataError(f"{what}: {err}") from err
    return out


def _agent_channel(roles: Any, what: str) -> str:
    """Which channel is the agent, from the forms recorders write.

    ``{"left": "agent", "right": "caller"}``, ``{"0": "agent", "1": "caller"}``,
    ``["agent", "caller"]`` (left first) or ``{"agent": "right"}``.
    """
    if isinstance(roles, list) and sorted(roles) == ["agent", "caller"]:
        return "left" if roles[0] == "agent" else "right"
    if isinstance(roles, dict):
        if roles.get("agent") in ("left", "right"):
            return str(roles["agent"])
        by_channel = {str(k): v for k, v in roles.items()}
        if sorted(by_channel) == ["left", "right"] and sorted(by_channel.values()) == [
            "agent",
            "caller",
        ]:
            return "left" if by_channel["left"] == "agent" else "right"
        if sorted(by_channel) == ["0", "1"] and sorted(by_channel.values()) == ["agent", "caller"]:
            return "left" if by_channel["0"] == "agent" else "right"
    raise MetadataError(
        f"{what}: channel_roles {roles!r} must say which channel is the agent, "
        'e.g. {"left": "agent", "right": "caller"}'
    )
