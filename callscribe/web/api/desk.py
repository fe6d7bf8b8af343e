"""The review API (``/api/desk``): lists, one case with transcript and history, corrections,
status moves, and the call's audio (HTTP range requests, so a player can seek)."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse

from callscribe.db import as_utc
from callscribe.desk.accounts import Principal
from callscribe.desk.models import CaseStatus
from callscribe.desk.store import CaseFilter
from callscribe.errors import CaseNotFound
from callscribe.schema import APPEAL_TYPES, CATEGORIES, DISTRICTS, URGENCIES
from callscribe.web.deps import CallId, desk_of, require
from callscribe.web.errors import ERROR_RESPONSES
from callscribe.web.schemas import CaseDetail, CasePage, DeskOptions, FieldEditRequest, StatusChange

__all__ = ["desk_router"]

log = logging.getLogger(__name__)

_AUDIO_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".amr": "audio/amr",
    ".awb": "audio/amr-wb",
}

_TimeQuery = Query(description="ISO 8601; without an offset it is taken as UTC.")

desk_router = APIRouter(prefix="/api/desk", tags=["case desk"], responses=ERROR_RESPONSES)

people = require("operator", "qa")
operators = require("operator")


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return as_utc(value)
    except OverflowError as err:
        raise HTTPException(422, f"{name}: out of range") from err


@desk_router.get("/cases", response_model=CasePage, summary="List cases, newest first")
def list_cases(
    request: Request,
    _principal: Annotated[Principal, Depends(people)],
    status: Annotated[list[str] | None, Query(description="Repeat for several.")] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    district: Annotated[str | None, Query(max_length=64)] = None,
    appeal_type: Annotated[str | None, Query(max_length=64)] = None,
    urgency: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[datetime | None, _TimeQuery] = None,
    until: Annotated[datetime | None, _TimeQuery] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    where = CaseFilter(
        status=tuple(status or ()),
        category=category,
        district=district,
        appeal_type=appeal_type,
        urgency=urgency,
        since=_utc(since, "since"),
        until=_utc(until, "until"),
    )
    items, total = desk_of(request).list_cases(where, limit=limit, offset=offset)
    return {
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": offset + len(items) if offset + len(items) < total else None,
    }


@desk_router.get("/options", response_model=DeskOptions, summary="Values for filters and forms")
def options(_principal: Annotated[Principal, Depends(people)]) -> dict[str, Any]:
    return {
        "statuses": [s.value for s in CaseStatus],
        "districts": list(DISTRICTS),
        "categories": list(CATEGORIES),
        "appeal_types": list(APPEAL_TYPES),
        "urgencies": list(URGENCIES),
    }


@desk_router.get("/cases/{call_id}", response_model=CaseDetail, summary="One case for review")
def case_detail(
    call_id: CallId,
    request: Request,
    _principal: Annotated[Principal, Depends(people)],
) -> dict[str, Any]:
    return desk_of(request).case_detail(call_id)


@desk_router.patch(
    "/cases/{call_id}/fields", response_model=CaseDetail, summary="Correct fields (operators)"
)
def edit_fields(
    call_id: CallId,
    body: FieldEditRequest,
    request: Request,
    principal: Annotated[Principal, Depends(operators)],
) -> dict[str, Any]:
    """Changes only the fields sent; each change is recorded with the machine's value. A case
    still auto-filled moves to in-review; a confirmed or rejected one must be reopened first."""
    return desk_of(request).edit_fields(
        call_id,
        body.fields.model_dump(exclude_unset=True),
        actor=principal.actor,
        revision=body.revision,
        note=body.note,
    )


@desk_router.post(
    "/cases/{call_id}/status", response_model=CaseDetail, summary="Move a case (operators)"
)
def set_status(
    call_id: CallId,
    body: StatusChange,
    request: Request,
    principal: Annotated[Principal, Depends(operators)],
) -> dict[str, Any]:
    """auto-filled -> in-review -> confirmed | rejected; a decided case goes back to in-review."""
    return desk_of(request).set_status(
        call_id, body.status, actor=principal.actor, revision=body.revision, note=body.note
    )


@desk_router.get(
    "/cases/{call_id}/audio",
    response_class=FileResponse,
    responses={
        200: {"content": {"audio/*": {}}, "description": "The recording."},
        206: {"content": {"audio/*": {}}, "description": "Part of it (Range)."},
        416: {"description": "The range is outside the file."},
    },
    summary="The call's recording (supports Range)",
)
def case_audio(
    call_id: CallId,
    request: Request,
    _principal: Annotated[Principal, Depends(people)],
) -> Response:
    """The audio of the case's call. The file is found through the call ledger by call id;
    nothing the client sends names a path."""
    desk = desk_of(request)
    if desk.get_case(call_id) is None:
        raise CaseNotFound(f"no case for call {call_id}")
    path = _stored_audio(request, call_id, desk.audio_path(call_id))
    return FileResponse(
        path,
        media_type=_AUDIO_TYPES.get(path.suffix.lower(), "application/octet-stream"),
        headers={"Cache-Control": "private, no-store"},
        content_disposition_type="inline",
        filename=f"{call_id}{path.suffix.lower()}",
    )


def _stored_audio(request: Request, call_id: str, stored: str | None) -> FilePath:
    """The ledger's audio file, only when it is a regular file under the data directory.

    The ledger is ours, but a store restored from elsewhere or edited by hand could name any
    file; resolving links first means a symlink out of the data directory is refused too.
    """
    if not stored:
        raise HTTPException(404, f"no audio stored for call {call_id}")
    data_dir = request.app.state.settings.data.resolve()
    path = FilePath(stored).resolve()
    if not path.is_relative_to(data_dir):
        log.warning("call %s: audio in the ledger is outside the data directory; refused", call_id)
        raise HTTPException(404, f"no audio stored for call {call_id}")
    if not path.is_file():
        log.warning("call %s: audio listed in the ledger is missing", call_id)
        raise HTTPException(404, f"no audio stored for call {call_id}")
    return path


desk_router.add_api_route(
    "/cases/{call_id}/audio",
    case_audio,
    methods=["HEAD"],
    response_class=FileResponse,
    include_in_schema=False,
)
