"""The upload API: ``POST /calls`` takes a recording, ``GET /calls/{call_id}`` tells its status.

No authentication here: :func:`callscribe.casesystem.app.create_app` mounts :data:`router`
behind its recorder/operator roles. The app's ``state.runtime`` gives the ledger and settings;
the rq queues are opened on first use and kept on ``app.state``. Calls are enqueued by job
name, so the web process never imports Whisper.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from callscribe.errors import (
    AudioDecodeError,
    IntakeRejected,
    MetadataError,
    QueueUnavailable,
    UnsupportedAudio,
    UploadTooLarge,
)
from callscribe.ledger import CallRecord, CallStatus
from callscribe.runtime import Runtime
from callscribe.worker.upload import receive_upload

if TYPE_CHECKING:
    from callscribe.worker.queue import CallQueues

__all__ = ["CallAccepted", "CallStatusBody", "router"]

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
    runtime = _runtime(request)
    limit = runtime.settings.max_upload_bytes
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
            ledger=runtime.ledger,
            data_dir=runtime.settings.data,
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
    record = await run_in_threadpool(_runtime(request).ledger.get, call_id)
    if record is None:
        raise HTTPException(404, detail=f"no call {call_id}")
    return CallStatusBody(call_id=record.call_id, status=record.status, error=record.error)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _enqueue(request: Request, record: CallRecord) -> None:
    _queues(request).enqueue(
        record.call_id,
        record.metadata.get("priority"),
        job_timeout_s=_runtime(request).settings.job_timeout_s,
    )


def _queues(request: Request) -> CallQueues:
    """The rq queues, opened once per app from the runtime's settings."""
    state = request.app.state
    with _queue_lock:
        queues: CallQueues | None = getattr(state, "calls_queues", None)
        if queues is None:
            from callscribe.worker.queue import CallQueues, connect
            from callscribe.worker.redis_server import resolve_redis

            settings = _runtime(request).settings
            url, private = resolve_redis(settings.redis_url, settings.data)
            queues = CallQueues(connect(url), settings.queue)
            state.calls_queues = queues
            state.calls_private_redis = private
    return queues
