"""A call's transcript as a file (`/audit/{call_id}/export?format=srt|vtt|json|text`).

QA's corrections are in place by default (the transcript as QA says it was spoken);
``corrected=0`` gives the machine's text. A ``qa-redacted`` auditor's export is masked like
their page. Formats are those of ``callscribe transcribe --format`` (:mod:`callscribe.subtitles`).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from callscribe.desk.audit import AuditDesk
from callscribe.errors import CaseNotFound
from callscribe.subtitles import EXTENSIONS, FORMATS, MEDIA_TYPES, export_transcript
from callscribe.web.deps import CallId, desk_of
from callscribe.web.pages.audit_view import audited_transcript
from callscribe.web.pages.common import PageUser, page_user

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

auditors = page_user("qa", "qa-redacted")


@router.get("/audit/{call_id}/export")
def export(
    call_id: CallId,
    request: Request,
    user: Annotated[PageUser, Depends(auditors)],
    format: Annotated[str, Query(max_length=16)] = "srt",  # noqa: A002  (the query's name)
    corrected: Annotated[bool, Query()] = True,
) -> Response:
    if format not in FORMATS:
        raise HTTPException(422, f"format: {format!r} is not one of {', '.join(FORMATS)}")
    try:
        transcript = audited_transcript(
            desk_of(request),
            AuditDesk(request.app.state.engine),
            call_id,
            corrected=corrected,
            redacted=user.redacted,
        )
    except CaseNotFound as err:
        raise HTTPException(404, str(err)) from err
    log.info("call %s: transcript exported as %s", call_id, format)
    return Response(
        export_transcript(transcript, format),
        media_type=MEDIA_TYPES[format],
        headers={
            "Content-Disposition": f'attachment; filename="{call_id}.{EXTENSIONS[format]}"',
            "Cache-Control": "no-store",
        },
    )
