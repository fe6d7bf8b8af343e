"""Register a call file: read its sidecar, fingerprint it, keep a copy, record it once.

The drop-folder watcher, the upload API and ``callscribe enqueue`` all come through
:func:`register_call_file`, so the three share one idempotency rule: a call is its sidecar's
``call_id`` when given, else the SHA-256 of the audio bytes. The same recording offered twice
is one call; a ``call_id`` reused for different audio is refused rather than silently merged.

Everything here reads input from outside, so every read is bounded and checked first: a file is
opened only when ``lstat`` says it is a regular file, opened without following links and without
blocking (a named pipe swapped in cannot hang the reader), and checked again with ``fstat``.
Metadata is at most :data:`METADATA_MAX_BYTES` and :data:`METADATA_MAX_DEPTH` levels deep, the
depth counted on the text before it is parsed (the ``json`` module recurses once per level).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import reprlib
import stat
import tempfile
import unicodedata
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from callscribe.audio.sniff import RawFormat
from callscribe.callids import check_call_id
from callscribe.errors import AudioDecodeError, IntakeRejected, MetadataError, PermanentError
from callscribe.ledger import CallLedger, CallRecord

__all__ = [
    "FILE_NAME_MAX_BYTES",
    "KNOWN_SIDECAR_KEYS",
    "METADATA_MAX_BYTES",
    "METADATA_MAX_DEPTH",
    "SIDECAR_MAX_BYTES",
    "check_file_name",
    "display_name",
    "lexists",
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

METADATA_MAX_BYTES = 64 * 1024
"""Bytes of JSON. A sidecar or an upload's metadata field larger than this is not metadata."""

SIDECAR_MAX_BYTES = METADATA_MAX_BYTES

METADATA_MAX_DEPTH = 32
"""Nesting levels of arrays and objects; the top-level object is level 1."""

FILE_NAME_MAX_BYTES = 255
"""NAME_MAX of Linux file systems, in UTF-8 bytes."""

_PATH_KEYS = ("audio", "audio_file", "file", "path", "recording")
_PRIORITIES = ("normal", "urgent")
_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")
_CHUNK = 1 << 20
_JSON_STRUCTURE = re.compile(r'["\\\[\]{}]')
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
"""NUL (PostgreSQL cannot store it) and unpaired surrogates (not encodable as UTF-8)."""

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlevel = 2


def _shown(value: Any) -> str:
    """A value from outside as an error message quotes it: short, and on one line."""
    text = _repr.repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


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
    with _open_regular(path, what, "file", IntakeRejected, missing=AudioDecodeError) as (fd, st):
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


def display_name(name: str) -> str:
    """A file name as error messages show it: as it is when printable, else ``ascii()``."""
    return name if name.isprintable() else ascii(name)


def check_file_name(name: str, *, max_bytes: int = FILE_NAME_MAX_BYTES) -> None:
    """Refuse names that could escape a folder or break a log line.

    Raises:
        IntakeRejected: the name is empty, ``.``/``..``, holds a path separator, ``..`` as a
            component, NUL, or any control character, is not UTF-8 (bytes the file system
            hands over as surrogates), or is over ``max_bytes`` in UTF-8.
    """
    shown = ascii(name)
    if not name or name in (".", ".."):
        raise IntakeRejected(f"{shown}: not a file name")
    if "/" in name or "\\" in name:
        raise IntakeRejected(f"{shown}: file name holds a path separator")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise IntakeRejected(f"{shown}: file name holds control characters")
    if _BAD_TEXT.search(name):
        raise IntakeRejected(f"{shown}: file name is not UTF-8")
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > max_bytes:
        raise IntakeRejected(
            f"{shown[:60]}...: file name is too long ({size} bytes, at most {max_bytes})"
        )


def sidecar_for(audio: Path) -> Path | None:
    """The sidecar beside ``audio``: ``NAME.json`` for ``NAME.ext`` (or ``NAME.ext.json``).

    Anything by that name counts (a directory or a pipe too), so that it is refused with the
    audio rather than left behind. A name too long to exist is no sidecar.
    """
    for candidate in (audio.with_suffix(".json"), audio.with_name(audio.name + ".json")):
        if candidate != audio and lexists(candidate):
            return candidate
    return None


def lexists(path: Path) -> bool:
    """Whether anything (a link included) is at ``path``; a name too long for the folder is
    simply not there, other errors are raised."""
    try:
        os.lstat(path)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG):
            return False
        raise
    return True


def read_sidecar(sidecar: Path, *, root: Path) -> dict[str, Any]:
    """Read a sidecar that must lie in ``root`` and may only point inside it.

    Raises:
        MetadataError: not a regular file (a symlink, a directory, a named pipe), outside
            ``root``, over :data:`SIDECAR_MAX_BYTES`, not a JSON object within the limits, or a
            path value that leads out of ``root``.
    """
    what = display_name(sidecar.name)
    root = root.resolve()
    if not sidecar.parent.resolve().is_relative_to(root):
        raise MetadataError(f"{what}: sidecar lies outside the inbox")
    with _open_regular(sidecar, what, "sidecar", MetadataError) as (fd, st):
        if st.st_size > SIDECAR_MAX_BYTES:
            raise MetadataError(f"{what}: sidecar is over {SIDECAR_MAX_BYTES} bytes")
        raw = _read_at_most(fd, SIDECAR_MAX_BYTES + 1)
    if len(raw) > SIDECAR_MAX_BYTES:
        raise MetadataError(f"{what}: sidecar is over {SIDECAR_MAX_BYTES} bytes")
    data = parse_metadata_json(raw, what)
    for key in _PATH_KEYS:
        value = data.get(key)
        if isinstance(value, str) and not _stays_in(root, value):
            raise MetadataError(f"{what}: {key} {_shown(value)} points outside the inbox")
    return data


def _stays_in(root: Path, value: str) -> bool:
    try:
        return (root / value).resolve().is_relative_to(root)
    except (OSError, ValueError):
        return False


def _read_at_most(fd: int, limit: int) -> bytes:
    parts: list[bytes] = []
    left = limit
    while left > 0 and (chunk := os.read(fd, min(left, _CHUNK))):
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


@contextlib.contextmanager
def _open_regular(
    path: Path,
    what: str,
    noun: str,
    refuse: type[PermanentError],
    *,
    missing: type[PermanentError] | None = None,
) -> Iterator[tuple[int, os.stat_result]]:
    """Open ``path`` for reading only if it is a regular file, and yield (fd, fstat).

    ``lstat`` first, so nothing else (a device, a pipe) is ever opened; then ``O_NOFOLLOW``
    and ``O_NONBLOCK`` against a swap in between, and ``fstat`` to be sure what was opened is
    the regular file that was looked at.
    """
    try:
        before = os.lstat(path)
    except FileNotFoundError as err:
        raise (missing or refuse)(f"{what}: no such file") from err
    except OSError as err:
        raise refuse(f"{what}: cannot read the {noun}: {_strerror(err)}") from err
    if stat.S_ISLNK(before.st_mode):
        if noun == "file":
            raise refuse(f"{what}: is a symbolic link; copy the recording itself")
        raise refuse(f"{what}: {noun} is a symbolic link")
    if not stat.S_ISREG(before.st_mode):
        raise refuse(f"{what}: {noun} is {_file_kind(before.st_mode)}, not a regular file")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        raise refuse(f"{what}: cannot read the {noun}: {_strerror(err)}") from err
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (
            before.st_dev,
            before.st_ino,
        ):
            raise refuse(f"{what}: {noun} was replaced while it was being opened")
        yield fd, st
    finally:
        os.close(fd)


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((word for test, word in kinds if test(mode)), "not a plain file")


def _strerror(err: OSError) -> str:
    """The reason of an OSError without the file name it carries."""
    return err.strerror or type(err).__name__


def parse_metadata_json(raw: bytes | str, what: str) -> dict[str, Any]:
    """A JSON object from a sidecar or an upload's metadata field, within the limits.

    At most :data:`METADATA_MAX_BYTES` of UTF-8 and :data:`METADATA_MAX_DEPTH` levels deep;
    strings may not hold NUL or unpaired surrogates, numbers must be finite.

    Raises:
        MetadataError: too large, too deep, not UTF-8, not JSON, not an object, or a value out
            of bounds; one line, with line and column for bad JSON.
    """
    if len(raw) > METADATA_MAX_BYTES or (
        isinstance(raw, str) and len(raw.encode("utf-8", "surrogatepass")) > METADATA_MAX_BYTES
    ):
        raise MetadataError(f"{what}: metadata is over {METADATA_MAX_BYTES} bytes")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as err:
        raise MetadataError(f"{what}: metadata is not UTF-8 text") from err
    if _json_depth_over(text, METADATA_MAX_DEPTH):
        raise MetadataError(
            f"{what}: metadata is nested more than {METADATA_MAX_DEPTH} levels deep"
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise MetadataError(
            f"{what}: bad JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from err
    except ValueError as err:
        raise MetadataError(f"{what}: metadata holds a number too long to read") from err
    except RecursionError as err:
        raise MetadataError(f"{what}: metadata is nested too deep") from err
    if not isinstance(data, dict):
        raise MetadataError(f"{what}: metadata must be a JSON object, not {type(data).__name__}")
    problem = _value_problem(data)
    if problem is not None:
        raise MetadataError(f"{what}: metadata {problem}")
    return data


def _json_depth_over(text: str, limit: int) -> bool:
    """Whether arrays and objects in ``text`` nest deeper than ``limit``, brackets in strings
    left out; a loop over the text, so any depth is counted without recursion."""
    depth = 0
    in_string = False
    escaped_at = -1
    for match in _JSON_STRUCTURE.finditer(text):
        char, at = match.group(), match.start()
        if in_string:
            if at == escaped_at:
                continue
            if char == "\\":
                escaped_at = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _value_problem(value: Any) -> str | None:
    """What is wrong with a parsed value, or None; recursion is bounded by the depth check."""
    if isinstance(value, str):
        return "holds a NUL character or an unpaired surrogate" if _BAD_TEXT.search(value) else None
    if isinstance(value, float) and not math.isfinite(value):
        return "holds a number that is not finite"
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _value_problem(key) or _value_problem(item)
            if problem is not None:
                return problem
    if isinstance(value, list):
        for item in value:
            problem = _value_problem(item)
            if problem is not None:
                return problem
    return None


def normalize_metadata(metadata: dict[str, Any], what: str) -> dict[str, Any]:
    """Check the known keys, keep unknown ones, and derive ``agent_channel`` from roles.

    Raises:
        MetadataError: a known key has a value we cannot use; the message names it.
    """
    out = dict(metadata)
    call_id = out.get("call_id")
    if call_id is not None:
        check_call_id(call_id, what)
    started_at = out.get("started_at")
    if started_at is not None:
        try:
            if not isinstance(started_at, str):
                raise ValueError("not a string")
            datetime.fromisoformat(started_at)
        except ValueError as err:
            raise MetadataError(f"{what}: started_at {_shown(started_at)} is not ISO 8601") from err
    priority = out.get("priority")
    if priority is not None and priority not in _PRIORITIES:
        raise MetadataError(
            f"{what}: priority {_shown(priority)} must be one of {list(_PRIORITIES)}"
        )
    roles = out.get("channel_roles")
    if roles is not None:
        out["agent_channel"] = _agent_channel(roles, what)
    try:
        RawFormat.from_metadata(out)
    except ValueError as err:
        raise MetadataError(f"{what}: {_one_line(str(err))}") from err
    return out


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _is_role_pair(values: list[Any]) -> bool:
    return (
        len(values) == 2
        and all(isinstance(v, str) for v in values)
        and sorted(values) == ["agent", "caller"]
    )


def _agent_channel(roles: Any, what: str) -> str:
    """Which channel is the agent, from the forms recorders write.

    ``{"left": "agent", "right": "caller"}``, ``{"0": "agent", "1": "caller"}``,
    ``["agent", "caller"]`` (left first) or ``{"agent": "right"}``.
    """
    if isinstance(roles, list) and _is_role_pair(roles):
        return "left" if roles[0] == "agent" else "right"
    if isinstance(roles, dict):
        agent = roles.get("agent")
        if isinstance(agent, str) and agent in ("left", "right"):
            return agent
        by_channel = {str(k): v for k, v in roles.items()}
        if _is_role_pair(list(by_channel.values())):
            if set(by_channel) == {"left", "right"}:
                return "left" if by_channel["left"] == "agent" else "right"
            if set(by_channel) == {"0", "1"}:
                return "left" if by_channel["0"] == "agent" else "right"
    raise MetadataError(
        f"{what}: channel_roles {_shown(roles)} must say which channel is the agent, "
        'e.g. {"left": "agent", "right": "caller"}'
    )
