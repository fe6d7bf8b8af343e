"""QA audit (`/audit`): samples of calls, each call's transcript against its audio, corrections
line by line, field flags and comments.

Roles ``qa`` and ``qa-redacted``. A ``qa-redacted`` auditor sees every personal detail masked
(transcript, fields, metadata, notes, exports) and gets no audio; they may flag fields and
comment but not correct lines: they would be correcting text they cannot see. Corrections are
saved by ``fetch`` (JSON, ``X-CSRF-Token``) or, without script, by a plain form POST; the other
forms are plain form POSTs that redirect back. Exports live in :mod:`.audit_exports`.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from callscribe import defaults
from callscribe.desk.audit import MAX_NOTE_CHARS, AuditDesk
from callscribe.desk.presenters import EDITABLE_FIELDS
from callscribe.desk.sampling import AuditBatch, SampleRule
from callscribe.errors import CaseNotFound
from callscribe.schema import CATEGORIES
from callscribe.web.deps import SESSION_COOKIE, CallId, desk_of
from callscribe.web.pages import audit_exports
from callscribe.web.pages.audit_view import SPEAKER_LABELS, audit_call, batch_rows
from callscribe.web.pages.common import PageUser, page_user, render, verify_csrf_form
from callscribe.web.security import CSRF_HEADER, csrf_matches

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
router.include_router(audit_exports.router)

auditors = page_user("qa", "qa-redacted")
Auditor = Annotated[PageUser, Depends(auditors)]
BatchId = Annotated[str | None, Query(max_length=64, pattern=r"^[0-9a-fA-F-]{1,64}$")]

SAMPLE_BY = (
    ("all", "全部 any call"),
    ("day", "按日 day (YYYY-MM-DD, Beijing time)"),
    ("operator", "按坐席 operator (reviewer)"),
    ("category", "按类别 category"),
    ("low-confidence", "低置信 transcript confidence under (default 0.6)"),
)
DEFAULT_SAMPLE_SIZE = 10
BATCHES_SHOWN = 30
_MAX_BODY = 16_384
_MAX_FIELD = 8_192
_REDACTED_MAY_NOT_CORRECT = (
    "redacted QA may not correct lines: the text is masked, so a correction would be made "
    "against text you cannot see"
)


def audit_desk(request: Request) -> AuditDesk:
    return AuditDesk(request.app.state.engine)


@router.get("/audit")
def audit_index(request: Request, user: Auditor, batch: BatchId = None) -> Response:
    return _index_page(request, user, batch_id=batch)


@router.post("/audit/samples")
async def draw_sample(request: Request, user: Auditor) -> Response:
    form = await request.form(max_files=0, max_fields=6, max_part_size=_MAX_FIELD)
    verify_csrf_form(request, form)
    entered = {k: str(form.get(k) or "").strip()[:256] for k in ("by", "value", "n", "seed")}
    try:
        rule = SampleRule(
            by=entered["by"],  # type: ignore[arg-type]  # checked by SampleRule
            value=entered["value"] or None,
            n=_whole(entered["n"], "n"),
            seed=_whole(entered["seed"], "seed"),
        )
        batch = await run_in_threadpool(
            audit_desk(request).draw_sample, rule, actor=user.principal.actor
        )
    except ValueError as err:
        return await run_in_threadpool(
            _index_page, request, user, batch_id=None, error=str(err), entered=entered
        )
    return RedirectResponse(f"/audit?batch={batch.batch_id}", status_code=303)


@router.get("/audit/{call_id}")
def audit_call_page(
    call_id: CallId, request: Request, user: Auditor, batch: BatchId = None
) -> Response:
    audit = audit_desk(request)
    settings = request.app.state.settings
    try:
        shown = audit_call(
            desk_of(request),
            audit,
            call_id,
            redacted=user.redacted,
            low_confidence=settings.desk_low_confidence,
        )
    except CaseNotFound as err:
        raise HTTPException(404, str(err)) from err
    chosen = _batch_or_404(audit, batch) if batch else None
    position = chosen.call_ids.index(call_id) if chosen and call_id in chosen.call_ids else None
    return render(
        request,
        "audit_call.html",
        user,
        title=f"质检 {call_id}",
        call_id=call_id,
        case=shown.view,
        lines=shown.lines,
        fields=shown.fields,
        notes=shown.notes,
        speakers=SPEAKER_LABELS,
        low_confidence=settings.desk_low_confidence,
        batch=chosen if position is not None else None,
        position=position,
        max_note=MAX_NOTE_CHARS,
        corrected_count=sum(1 for line in shown.lines if line.correction),
    )


@router.post("/audit/{call_id}/segments/{segment}")
async def correct_line(
    call_id: CallId,
    segment: Annotated[int, Path(ge=0, le=1_000_000)],
    request: Request,
    user: Auditor,
) -> Response:
    """Keep QA's text for one line: JSON ``{"text"}`` with the CSRF header (answers JSON), or a
    form with the CSRF field (redirects back to the line)."""
    as_json = request.headers.get("content-type", "").startswith("application/json")
    if as_json:
        if not csrf_matches(request.cookies.get(SESSION_COOKIE), request.headers.get(CSRF_HEADER)):
            return _json_error(403, "CSRF check failed: reload the page and try again")
        if user.redacted:
            return _json_error(403, _REDACTED_MAY_NOT_CORRECT)
        try:
            text = _json_text(await _bounded_body(request))
        except ValueError as err:
            return _json_error(422, str(err))
    else:
        form = await request.form(max_files=0, max_fields=4, max_part_size=_MAX_FIELD)
        verify_csrf_form(request, form)
        if user.redacted:
            raise HTTPException(403, _REDACTED_MAY_NOT_CORRECT)
        text = str(form.get("text") or "")
    try:
        fix = await run_in_threadpool(
            audit_desk(request).correct_segment,
            call_id,
            segment,
            _clean(text),
            actor=user.principal.actor,
        )
    except (CaseNotFound, ValueError) as err:
        status = 404 if isinstance(err, CaseNotFound) else 422
        if as_json:
            return _json_error(status, str(err))
        raise HTTPException(status, str(err)) from err
    if as_json:
        return JSONResponse(
            {
                "segment": fix.segment,
                "machine_text": fix.machine_text,
                "corrected_text": fix.corrected_text,
                "actor": fix.actor,
                "at": fix.at.isoformat(),
            }
        )
    return _back(request, call_id, f"line-{segment}")


@router.post("/audit/{call_id}/flags")
async def flag_field(call_id: CallId, request: Request, user: Auditor) -> Response:
    form = await request.form(max_files=0, max_fields=5, max_part_size=_MAX_FIELD)
    verify_csrf_form(request, form)
    name = str(form.get("field") or "")[:64]
    comment = _clean(str(form.get("comment") or "")) or None
    try:
        await run_in_threadpool(
            audit_desk(request).flag_field,
            call_id,
            name,
            actor=user.principal.actor,
            comment=comment,
        )
    except CaseNotFound as err:
        raise HTTPException(404, str(err)) from err
    except ValueError as err:
        raise HTTPException(422, str(err)) from err
    return _back(request, call_id, f"field-{name}" if name in EDITABLE_FIELDS else "notes")


@router.post("/audit/{call_id}/comments")
async def add_comment(call_id: CallId, request: Request, user: Auditor) -> Response:
    form = await request.form(max_files=0, max_fields=4, max_part_size=_MAX_FIELD)
    verify_csrf_form(request, form)
    try:
        await run_in_threadpool(
            audit_desk(request).add_comment,
            call_id,
            _clean(str(form.get("text") or "")),
            actor=user.principal.actor,
        )
    except CaseNotFound as err:
        raise HTTPException(404, str(err)) from err
    except ValueError as err:
        raise HTTPException(422, str(err)) from err
    return _back(request, call_id, "notes")


def _index_page(
    request: Request,
    user: PageUser,
    *,
    batch_id: str | None,
    error: str | None = None,
    entered: dict[str, str] | None = None,
) -> Response:
    audit = audit_desk(request)
    batches = audit.batches(limit=BATCHES_SHOWN)
    chosen = _batch_or_404(audit, batch_id) if batch_id else (batches[0] if batches else None)
    rows = batch_rows(desk_of(request), audit, chosen, redacted=user.redacted) if chosen else []
    form = entered or {
        "by": "all",
        "value": "",
        "n": str(DEFAULT_SAMPLE_SIZE),
        "seed": str(secrets.randbelow(10**9)),
    }
    return render(
        request,
        "audit_index.html",
        user,
        status_code=422 if error else 200,
        title="质检 QA audit",
        batches=batches,
        chosen=chosen,
        rows=rows,
        form=form,
        sample_by=SAMPLE_BY,
        categories=CATEGORIES,
        today=datetime.now(defaults.HOTLINE_TIMEZONE).date().isoformat(),
        error=error,
    )


def _batch_or_404(audit: AuditDesk, batch_id: str) -> AuditBatch:
    try:
        return audit.batch(batch_id)
    except CaseNotFound as err:
        raise HTTPException(404, str(err)) from err


def _whole(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError as err:
        raise ValueError(f"{name}: {value!r} is not a whole number") from err


def _clean(text: str) -> str:
    """Line breaks as the browser sends them (CRLF) become LF; ends are trimmed."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


async def _bounded_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > _MAX_BODY:
        raise ValueError(f"body: at most {_MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY:
            raise ValueError(f"body: at most {_MAX_BODY} bytes")
    return bytes(body)


def _json_text(body: bytes) -> str:
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError('body: not JSON; send {"text": "..."}') from err
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise ValueError('text: send {"text": "..."} with the line\'s text as a string')
    return str(data["text"])


def _json_error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _call_url(call_id: str, batch_id: str | None) -> str:
    return f"/audit/{quote(call_id)}" + (f"?batch={batch_id}" if batch_id else "")


def _back(request: Request, call_id: str, anchor: str) -> Response:
    batch = request.query_params.get("batch")
    batch_id = (
        batch
        if batch and len(batch) <= 64 and all(c in "0123456789abcdefABCDEF-" for c in batch)
        else None
    )
    return RedirectResponse(f"{_call_url(call_id, batch_id)}#{anchor}", status_code=303)
