"""Recorder metadata, read within bounds: a sidecar's or an upload's JSON made usable.

Holds everything that turns metadata from outside into a checked dict: finding the sidecar
beside a recording (:func:`sidecar_for`), reading it (:func:`read_sidecar`, a regular file in
the inbox, at most :data:`SIDECAR_MAX_BYTES`, pointing nowhere outside), parsing it
(:func:`parse_metadata_json`, at most :data:`METADATA_MAX_BYTES` and
:data:`METADATA_MAX_DEPTH` levels deep, the depth counted on the text before it is parsed since
the ``json`` module recurses once per level) and checking the keys the intake understands
(:func:`normalize_metadata`, :data:`KNOWN_SIDECAR_KEYS`).

It is apart from :mod:`callscribe.intake.register` because it is a concern of its own, used on
its own: the upload API parses its metadata field here, and the web schemas take their limits
from here, without registering anything.
"""

from __future__ import annotations

import json
import math
import os
import re
import reprlib
from datetime import datetime
from pathlib import Path
from typing import Any

from callscribe.audio.sniff import RawFormat
from callscribe.callids import check_call_id
from callscribe.errors import MetadataError, one_line
from callscribe.intake.files import BAD_TEXT, display_name, lexists, open_regular

__all__ = [
    "KNOWN_SIDECAR_KEYS",
    "METADATA_MAX_BYTES",
    "METADATA_MAX_DEPTH",
    "SIDECAR_MAX_BYTES",
    "normalize_metadata",
    "parse_metadata_json",
    "read_sidecar",
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

_PATH_KEYS = ("audio", "audio_file", "file", "path", "recording")
_PRIORITIES = ("normal", "urgent")
_CHUNK = 1 << 20
_JSON_STRUCTURE = re.compile(r'["\\\[\]{}]')

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlevel = 2


def _shown(value: Any) -> str:
    """A value from outside as an error message quotes it: short, and on one line."""
    text = _repr.repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def sidecar_for(audio: Path) -> Path | None:
    """The sidecar beside ``audio``: ``NAME.json`` for ``NAME.ext`` (or ``NAME.ext.json``).

    Anything by that name counts (a directory or a pipe too), so that it is refused with the
    audio rather than left behind. A name too long to exist is no sidecar.
    """
    for candidate in (audio.with_suffix(".json"), audio.with_name(audio.name + ".json")):
        if candidate != audio and lexists(candidate):
            return candidate
    return None


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
    with open_regular(sidecar, what, "sidecar", MetadataError) as (fd, st):
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
        return "holds a NUL character or an unpaired surrogate" if BAD_TEXT.search(value) else None
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
        raise MetadataError(f"{what}: {one_line(str(err), 200)}") from err
    return out


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
