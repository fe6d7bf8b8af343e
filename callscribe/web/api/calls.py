"""The upload API: ``POST /calls`` takes a recording, ``GET /calls/{call_id}`` tells its status.

No authentication here: :func:`callscribe.web.app.create_app` mounts :data:`router`
behind its recorder/operator roles. The app's state gives the ledger and settings; the rq
queues are opened on first use on the Redis at ``REDIS_URL``, kept on ``app.state`` and closed
with the app. Calls are enqueued by job name, so the web process never imports Whisper.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from callscribe import defaults
from callscribe.errors import (
    AudioDecodeError,
    IntakeRejected,
    MetadataError,
    QueueUnavailable,
    UnsupportedAudio,
    UploadTooLarge,
)
from callscribe.intake.queue import CallQueues, connect
from callscribe.intake.upload import receive_upload
from callscribe.ledger import CallLedger, CallRecord, CallStatus
from callscribe.settings import Settings

__all__ = ["CallAccepted", "CallStatusBody", "close_queues", "router"]

router = APIRouter(tags=["calls"])

_queue_lock = threading.Lock()

_MULTIPART_SLACK = 64 * 1024
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
        400: {"description": "Empty file or unsafe file name."},
        413: {"description": "Over the upload size limit."},
        415: {"description": "Content is not a recognised audio format."},
        422: {"description": "The metadata field is not usable JSON."},
        503: {"description": "The queue's Redis does not answer."},
    },
    openapi_extra={"requestBody": _REQUEST_BODY},
)
async def upload_call(request: Request) -> JSONResponse:
    """The form is read here, not declared as parameters, so that auth (a router dependency)
    and a declared Content-Length over the limit are answered before any byte is stored."""
    settings = _settings(request)
    limit = settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + _MULTIPART_SLACK:
        raise HTTPException(
            413, detail=f"upload of {declared} bytes is over the {limit} byte limit"
        )
    form = await request.form(max_files=1, max_fields=2)
    try:
        audio = form.get("audio")
        if not isinstance(audio, UploadFile):
            raise HTTPException(422, detail="audio: a file part named 'audio' is required")
        field = form.get("metadata")
        metadata = await field.read() if isinstance(field, UploadFile) else field
        record, created = await run_in_threadpool(
            receive_upload,
            audio.file,
            audio.filename,
            metadata,
            ledger=_ledger(request),
            data_dir=settings.data,
            max_bytes=limit,
        )
    except UploadTooLarge as err:
        raise HTTPException(413, detail=str(err)) from err
    except UnsupportedAudio as err:
        raise HTTPException(415, detail=str(err)) from err
    except MetadataError as err:
        raise HTTPException(422, detail=str(err)) from err
    except (IntakeRejected, AudioDecodeError) as err:
        raise HTTPException(400, detail=str(err)) from err
    finally:
        await form.close()
    if record.status not in (CallStatus.DONE, CallStatus.FAILED):
        try:
            await run_in_threadpool(_enqueue, request, record)
        except QueueUnavailable as err:
            raise HTTPException(503, detail=str(err)) from err
    body = CallAccepted(
        call_id=record.call_id,
        status=record.status,
        status_url=str(request.url_for("call_status", call_id=record.call_id)),
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
