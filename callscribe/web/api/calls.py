"""The upload API: ``POST /calls`` takes a recording, ``GET /calls/{call_id}`` tells its status.

No authentication here: :func:`callscribe.web.app.create_app` mounts :data:`router`
behind its recorder/operator roles. The app's state gives the ledger and settings; the rq
queues are opened on first use on the Redis at ``REDIS_URL``, kept on ``app.state`` and closed
with the app. Calls are enqueued by job name, so the web process never imports Whisper.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import quote

import anyio
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from callscribe import defaults
from callscribe.errors import (
    AudioDecodeError,
    CallscribeError,
    IntakeRejected,
    MetadataError,
    QueueUnavailable,
    UnsupportedAudio,
    UploadTooLarge,
)
from callscribe.intake.metadata import METADATA_MAX_BYTES
from callscribe.intake.queue import CallQueues, connect
from callscribe.intake.upload import UploadSpool, register_upload
from callscribe.ledger import CallLedger, CallRecord, CallStatus
from callscribe.settings import Settings

__all__ = ["CallAccepted", "CallStatusBody", "close_queues", "router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["calls"])

_queue_lock = threading.Lock()

_MULTIPART_SLACK = METADATA_MAX_BYTES + 16 * 1024
"""Bytes of multipart framing and metadata allowed on top of the audio size limit."""

_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["audio"],
                "properties": {
                    "audio": {
                        "type": "string",
                        "format": "binary",
                        "description": "The recording, any supported format (judged by content).",
                    },
                    "metadata": {
                        "type": "string",
                        "description": "Sidecar fields as a JSON object: call_id, caller_number, "
                        "started_at, agent_id, channel_roles, priority; encoding and sample_rate "
                        "for raw G.711.",
                    },
                },
            }
        }
    },
}


class CallAccepted(BaseModel):
    call_id: str
    status: str
    status_url: str


class CallStatusBody(BaseModel):
    call_id: str
    status: str
    error: str | None = None


@router.post(
    "/calls",
    status_code=202,
    response_model=CallAccepted,
    summary="Upload a recorded call (multipart: audio, optional metadata JSON)",
    responses={
        200: {"model": CallAccepted, "description": "Known already (same call_id or bytes)."},
        400: {"description": "Empty file, unsafe file name, or a malformed multipart body."},
        413: {"description": "Over the upload size limit (counted while reading)."},
        415: {"description": "Content is not a recognised audio format."},
        422: {
            "description": "No audio part, or unusable metadata: not a JSON object, too large "
            "or too deep, or a bad value such as a call_id off the pattern."
        },
        503: {
            "description": "The queue's Redis does not answer, or the data directory is "
            "not writable."
        },
    },
    openapi_extra={"requestBody": _REQUEST_BODY},
)
async def upload_call(request: Request) -> JSONResponse:
    """The body is parsed here as it arrives, not declared as parameters, so that auth (a router
    dependency) and a declared Content-Length over the limit are answered before any byte is
    read, and so that the limit is counted while reading: a body without Content-Length is cut
    off as soon as it passes the limit. The audio goes straight to the data directory."""
    settings = _settings(request)
    limit = settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + _MULTIPART_SLACK:
        raise HTTPException(
            413,
            detail=f"upload of {declared} bytes is over the {limit} byte limit",
            headers=_CLOSE,
        )
    boundary = _boundary(request)
    try:
        spool = await run_in_threadpool(UploadSpool, settings.data, limit)
    except OSError as err:
        log.error("uploads: cannot make a spool folder in the data directory: %s", err)
        raise HTTPException(503, detail="the data directory is not writable") from err
    form = _UploadForm(spool, boundary)
    try:
        metadata = await form.read(request, limit + _MULTIPART_SLACK)
        record, created = await run_in_threadpool(
            register_upload,
            spool,
            metadata,
            ledger=_ledger(request),
            data_dir=settings.data,
        )
    except _REFUSALS as err:
        raise _refusal(err, body_read=form.complete) from err
    finally:
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(spool.discard)
    if record.status not in (CallStatus.DONE, CallStatus.FAILED):
        try:
            await run_in_threadpool(_enqueue, request, record)
        except QueueUnavailable as err:
            raise HTTPException(503, detail=str(err)) from err
    body = CallAccepted(
        call_id=record.call_id, status=record.status, status_url=_status_url(settings, record)
    )
    return JSONResponse(body.model_dump(), status_code=202 if created else 200)


@router.get(
    "/calls/{call_id}",
    response_model=CallStatusBody,
    name="call_status",
    summary="A call's status: queued, transcribing, extracting, writing-back, done or failed",
    responses={404: {"description": "No call with that id."}},
)
async def call_status(request: Request, call_id: str) -> CallStatusBody:
    record = await run_in_threadpool(_ledger(request).get, call_id)
    if record is None:
        raise HTTPException(404, detail=f"no call {call_id}")
    return CallStatusBody(call_id=record.call_id, status=record.status, error=record.error)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _ledger(request: Request) -> CallLedger:
    ledger: CallLedger = request.app.state.ledger
    return ledger


def _status_url(settings: Settings, record: CallRecord) -> str:
    """``CALLSCRIBE_PUBLIC_URL`` + ``calls/ID``, or ``/calls/ID`` when it is unset: never built
    from the request's Host header, which the client chooses."""
    path = f"calls/{quote(record.call_id, safe='')}"
    if settings.public_url is None:
        return "/" + path
    return str(settings.public_url).rstrip("/") + "/" + path


_STATUS_OF: dict[type[CallscribeError], int] = {
    UploadTooLarge: 413,
    UnsupportedAudio: 415,
    MetadataError: 422,
    IntakeRejected: 400,
    AudioDecodeError: 400,
}
"""Upload refusals by error, the most specific first (UploadTooLarge is an IntakeRejected)."""

_REFUSALS: tuple[type[Exception], ...] = (HTTPException, *_STATUS_OF)

_CLOSE = {"Connection": "close"}


def _refusal(err: Exception, *, body_read: bool) -> HTTPException:
    """The HTTP answer to a refused upload.

    Refused before its end, the body is not read on: ``Connection: close`` makes uvicorn drop
    the connection after the answer instead of reading (and discarding) the rest to keep it.
    """
    headers = None if body_read else _CLOSE
    if isinstance(err, HTTPException):
        return HTTPException(err.status_code, detail=err.detail, headers=headers)
    status = next(code for kind, code in _STATUS_OF.items() if isinstance(err, kind))
    return HTTPException(status, detail=str(err), headers=headers)


def _boundary(request: Request) -> bytes:
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary", b"")
    if kind != b"multipart/form-data" or not boundary:
        raise HTTPException(
            422,
            detail="audio: send multipart/form-data with a file part named 'audio'",
            headers=_CLOSE,
        )
    return boundary


class _UploadForm:
    """The upload's multipart body, parsed while it streams in (python-multipart's parser).

    The ``audio`` part goes to the spool, which counts it against the audio limit; the
    ``metadata`` part is kept in memory up to :data:`METADATA_MAX_BYTES`; other parts are
    counted and dropped. The whole body is counted against ``max_body`` as it is read.
    """

    _MAX_PARTS = 4

    def __init__(self, spool: UploadSpool, boundary: bytes) -> None:
        self._spool = spool
        self._boundary = boundary
        self._header_field = b""
        self._header_value = b""
        self._disposition = b""
        self._target: str | None = None
        self._parts = 0
        self._audio: list[bytes] = []
        self._metadata: bytearray | None = None
        self._has_audio = False
        self._ended = False
        self.complete = False
        """The body was read to its end."""

    async def read(self, request: Request, max_body: int) -> bytes | None:
        """Read the body; return the metadata field's bytes (None when it was not sent).

        Raises:
            UploadTooLarge: the body or the audio passed its limit; reading stops there.
            HTTPException: the body is not well-formed multipart (400), lacks the audio part
                (422), or the client went away (400).
        """
        received = 0
        try:
            parser = MultipartParser(
                self._boundary,
                {
                    "on_part_begin": self._part_begin,
                    "on_header_field": self._header_field_data,
                    "on_header_value": self._header_value_data,
                    "on_header_end": self._header_end,
                    "on_headers_finished": self._headers_finished,
                    "on_part_data": self._part_data,
                    "on_part_end": self._part_end,
                    "on_end": self._end,
                },
            )
            async for chunk in request.stream():
                received += len(chunk)
                if received > max_body:
                    raise UploadTooLarge(
                        f"{self._spool.name}: over the {self._spool.max_bytes} byte upload limit"
                    )
                parser.write(chunk)
                if self._audio:
                    pending, self._audio = self._audio, []
                    await run_in_threadpool(self._spool.write, pending)
            parser.finalize()
            self.complete = True
        except FormParserError as err:
            raise HTTPException(400, detail="upload: the body is not valid multipart") from err
        except ClientDisconnect as err:
            raise HTTPException(400, detail="upload: the client closed the connection") from err
        if not self._ended:
            raise HTTPException(400, detail="upload: the body ends before its last boundary")
        if not self._has_audio:
            raise HTTPException(422, detail="audio: a file part named 'audio' is required")
        return bytes(self._metadata) if self._metadata is not None else None

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > self._MAX_PARTS:
            raise HTTPException(422, detail=f"upload: more than {self._MAX_PARTS} parts")
        self._disposition = b""
        self._target = None

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_field.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_field = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name")
        if name == b"audio":
            filename = options.get(b"filename")
            if filename is None:
                raise HTTPException(422, detail="audio: a file part named 'audio' is required")
            if self._has_audio:
                raise HTTPException(422, detail="audio: send one recording per upload")
            self._spool.open(_decode(filename))
            self._has_audio = True
            self._target = "audio"
        elif name == b"metadata":
            if self._metadata is not None:
                raise MetadataError("metadata: sent more than once")
            self._metadata = bytearray()
            self._target = "metadata"

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._target == "audio":
            self._audio.append(data[start:end])
        elif self._target == "metadata" and self._metadata is not None:
            if len(self._metadata) + end - start > METADATA_MAX_BYTES:
                raise MetadataError(f"metadata: over the {METADATA_MAX_BYTES} byte limit")
            self._metadata += data[start:end]

    def _part_end(self) -> None:
        self._target = None

    def _end(self) -> None:
        self._ended = True


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _enqueue(request: Request, record: CallRecord) -> None:
    try:
        _queues(request).enqueue(
            record.call_id,
            record.metadata.get("priority"),
            job_timeout_s=_settings(request).job_timeout_s,
        )
    except (RedisError, OSError) as err:
        raise QueueUnavailable(
            f"call {record.call_id}: the queue's Redis does not answer ({type(err).__name__}); "
            "the call is registered and will be queued when it is sent again"
        ) from err


def _queues(request: Request) -> CallQueues:
    """The rq queues, opened once per app on the settings' Redis."""
    state = request.app.state
    with _queue_lock:
        queues: CallQueues | None = getattr(state, "calls_queues", None)
        if queues is None:
            settings = _settings(request)
            queues = CallQueues(connect(settings.redis_url or defaults.REDIS_URL), settings.queue)
            state.calls_queues = queues
    return queues


def close_queues(app: FastAPI) -> None:
    """Close the queues' Redis connection, if one was opened."""
    queues: CallQueues | None = getattr(app.state, "calls_queues", None)
    if queues is not None:
        queues.normal.connection.close()
        app.state.calls_queues = None
