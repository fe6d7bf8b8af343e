"""Exceptions raised by callscribe.

One root, two branches, so that the queue can tell a failure worth retrying from one that
will fail the same way every time::

    CallscribeError
    ├── PermanentError            retrying cannot help; the call ends as failed
    │   ├── ConfigurationError    a setting is missing or wrong
    │   ├── AudioDecodeError      the file is not audio we can read (empty, cut short, bad codec)
    │   ├── AudioRejectedError    readable audio that we refuse (too long, all silence)
    │   ├── IntakeRejected        refused before decoding (symlink, unsafe name, too large)
    │   ├── MetadataError         a sidecar or upload metadata is unusable
    │   ├── ModelError            the Whisper model is missing or fails its checksum
    │   ├── TranscriptInputError  a transcript file given to `extract` cannot be read
    │   ├── WriteBackRejected     the case system refused the case (4xx other than 409/429)
    │   ├── WriteBackConflict     409: the case is past the worker's reach (e.g. confirmed); done
    │   ├── CaseStateConflict     a review action that the case's state forbids (409)
    │   └── CaseNotFound          no case for that call id (404)
    └── RetryableError            a later attempt may succeed; rq retries it
        ├── QueueUnavailable      Redis does not answer
        └── CaseSystemUnavailable the case system timed out, was unreachable, or answered 429/5xx
"""

from __future__ import annotations

__all__ = [
    "AudioDecodeError",
    "AudioRejectedError",
    "CallscribeError",
    "CaseNotFound",
    "CaseStateConflict",
    "CaseSystemUnavailable",
    "ConfigurationError",
    "IntakeRejected",
    "MetadataError",
    "ModelError",
    "PermanentError",
    "QueueUnavailable",
    "RetryableError",
    "TranscriptInputError",
    "UnsupportedAudio",
    "UploadTooLarge",
    "WriteBackConflict",
    "WriteBackError",
    "WriteBackRejected",
    "as_file_reason",
    "error_line",
    "one_line",
]


class CallscribeError(Exception):
    """Root of every error callscribe raises on purpose."""


class PermanentError(CallscribeError):
    """A failure that will repeat on every attempt; the call is marked failed."""


class RetryableError(CallscribeError):
    """A failure of something outside us that may recover; the job is retried."""


class ConfigurationError(PermanentError):
    """A setting is missing, malformed, or names something that does not exist."""


class AudioDecodeError(PermanentError):
    """The file cannot be decoded as audio. The message names the file and the reason."""


class AudioRejectedError(PermanentError):
    """The audio decodes but is refused: too long, too large, or nothing but silence."""


class IntakeRejected(PermanentError):
    """A file offered for intake is refused before decoding: a symlink, an unsafe name, too
    large, or a call id already used by a different recording."""


class UploadTooLarge(IntakeRejected):
    """An uploaded file is over the size limit (HTTP 413)."""


class UnsupportedAudio(IntakeRejected):
    """An uploaded file's content is not an audio format we read (HTTP 415)."""


class MetadataError(PermanentError):
    """A sidecar ``NAME.json`` or the upload's metadata field is unusable (bad JSON, bad value)."""


class ModelError(PermanentError):
    """The Whisper model cannot be found, joined, verified or loaded."""


class TranscriptInputError(PermanentError):
    """A transcript given to `callscribe extract` is neither our JSON shape nor plain text."""


class WriteBackError(CallscribeError):
    """Base of failures to write a case back to the case system."""


class WriteBackRejected(WriteBackError, PermanentError):
    """The case system refused the case; its message is kept."""


class WriteBackConflict(WriteBackError, PermanentError):
    """409: the case exists in a state the worker may not overwrite (an operator confirmed it).

    Not a failure of the call: the outbox treats it as delivered and keeps the server's message.
    Permanent so that, should it ever reach the queue, it is never retried.
    """


class CaseStateConflict(PermanentError):
    """A review action does not fit the case's state: a move the lifecycle forbids, or an edit
    made on an older revision than the one stored (HTTP 409)."""


class CaseNotFound(PermanentError):
    """No case is stored for that call id (HTTP 404)."""


class CaseSystemUnavailable(WriteBackError, RetryableError):
    """The case system could not be reached, timed out, or asked us to come back later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueueUnavailable(RetryableError):
    """Redis does not answer at the configured URL."""


def as_file_reason(message: str, call_id: str, file_name: str) -> str:
    """A call's error as the person who gave the file knows it.

    Errors that travel into logs and rq's tracebacks name the call (``call ID: why``), since
    a file name may hold the caller's number; a terminal or a note beside the file names the
    file instead.
    """
    prefix = f"call {call_id}: "
    return f"{file_name}: {message[len(prefix) :]}" if message.startswith(prefix) else message


def one_line(text: str, limit: int | None = None) -> str:
    """``text`` with its whitespace runs collapsed, cut to ``limit`` characters with "..."."""
    line = " ".join(text.split())
    if limit is not None and len(line) > limit:
        line = line[: limit - 3] + "..."
    return line


def error_line(err: BaseException) -> str:
    """An error's message on one line; its type's name when it has none."""
    return one_line(str(err)) or type(err).__name__
