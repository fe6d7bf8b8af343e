"""Call ids: the one rule every consumer accepts, and the rq job id each call is queued under.

A call id is a recorder's ``call_id`` (sidecar or upload metadata) or the SHA-256 of the audio:
1 to 128 ASCII letters, digits, ``.``, ``_`` or ``-``, starting with a letter or a digit
(:data:`CALL_ID_PATTERN`). The upload API, the desk's routes, the watcher and ``callscribe
enqueue`` all check ids against this pattern, so an id one of them accepts is accepted by all.

rq (2.12) allows only letters, digits, ``_`` and ``-`` in a job id, so a call id is not used as
its job id as it is. :func:`job_id_for` maps every valid call id to a job id, one to one:

* an id rq accepts as it is (every SHA-256, ``REC-2026-0001``) is queued as ``call-ID``,
  exactly as before this module existed, so jobs queued by an older release are still found;
* any other id (it holds a ``.``) is queued as ``call_`` followed by the id with ``_`` written
  ``_5f`` and ``.`` written ``_2e``: ``rec.2024.0001`` becomes ``call_rec_2e2024_2e0001``.

The two prefixes differ in their fifth character and the escaping is prefix-free, so no two
call ids share a job id; :func:`call_id_for_job` reads the call id back.
"""

from __future__ import annotations

import re

from callscribe.errors import MetadataError

__all__ = [
    "CALL_ID_MAX_CHARS",
    "CALL_ID_PATTERN",
    "CALL_ID_RULE",
    "call_id_for_job",
    "check_call_id",
    "is_call_id",
    "job_id_for",
]

CALL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
"""Call ids as intake makes them: a sidecar id or the SHA-256 of the audio.

Written with ``^...$`` so that pydantic (Rust regex) can use it as it is; Python code must use
:func:`is_call_id` (``fullmatch``), since Python's ``$`` also matches before a final newline.
"""

CALL_ID_MAX_CHARS = 128

CALL_ID_RULE = "1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
"""The pattern in words, for error messages."""

_CALL_ID = re.compile(CALL_ID_PATTERN)
_RQ_SAFE = re.compile(r"[A-Za-z0-9_-]+")
"""rq's own ``JOB_ID_PATTERN`` (rq/job.py), which it checks with ``fullmatch``."""

_PLAIN_PREFIX = "call-"
_ESCAPED_PREFIX = "call_"
_ESCAPES = {"_": "_5f", ".": "_2e"}
_UNESCAPE = re.compile(r"_(5f|2e)")


def is_call_id(value: object) -> bool:
    """Whether ``value`` is a string that matches :data:`CALL_ID_PATTERN` in full."""
    return isinstance(value, str) and _CALL_ID.fullmatch(value) is not None


def check_call_id(value: object, what: str) -> str:
    """``value`` as a call id, or a one-line error naming ``what`` (a file name, ``metadata``).

    Raises:
        MetadataError: not a string, or not :data:`CALL_ID_PATTERN`.
    """
    if is_call_id(value):
        return str(value)
    shown = ascii(value) if isinstance(value, str | int | float | bool) else type(value).__name__
    if len(shown) > 60:
        shown = shown[:57] + "..."
    raise MetadataError(f"{what}: call_id {shown} must be {CALL_ID_RULE}")


def job_id_for(call_id: str) -> str:
    """The rq job id of a call: one job per call, and one call per job id.

    Raises:
        ValueError: ``call_id`` is not a valid call id (callers check it first).
    """
    if not is_call_id(call_id):
        raise ValueError(f"not a call id: {ascii(call_id)[:60]}")
    if _RQ_SAFE.fullmatch(call_id):
        return _PLAIN_PREFIX + call_id
    return _ESCAPED_PREFIX + "".join(_ESCAPES.get(ch, ch) for ch in call_id)


def call_id_for_job(job_id: str) -> str | None:
    """The call id a job id was made from by :func:`job_id_for`, or None for other jobs."""
    if job_id.startswith(_PLAIN_PREFIX):
        call_id = job_id[len(_PLAIN_PREFIX) :]
    elif job_id.startswith(_ESCAPED_PREFIX):
        escaped = job_id[len(_ESCAPED_PREFIX) :]
        if "_" in _UNESCAPE.sub("", escaped):
            return None
        call_id = _UNESCAPE.sub(lambda m: "_" if m.group(1) == "5f" else ".", escaped)
    else:
        return None
    return call_id if is_call_id(call_id) and job_id_for(call_id) == job_id else None
