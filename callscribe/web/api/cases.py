"""The write-back contract (``/api/cases/{call_id}``) every case system implements; the worker
PUTs the machine's case here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from callscribe.desk.accounts import Principal
from callscribe.errors import CaseNotFound
from callscribe.web.deps import CallId, desk_of, require
from callscribe.web.errors import ERROR_RESPONSES
from callscribe.web.schemas import CaseWrite, StoredCaseBody

__all__ = ["contract_router"]

contract_router = APIRouter(
    prefix="/api/cases", tags=["write-back contract"], responses=ERROR_RESPONSES
)

worker_only = require("worker")
readers = require("worker", "operator", "qa")


@contract_router.put(
    "/{call_id}",
    response_model=StoredCaseBody,
    responses={201: {"model": StoredCaseBody, "description": "Created."}},
    summary="Create or update the case of a call (idempotent on the call id)",
)
def put_case(
    call_id: CallId,
    body: CaseWrite,
    request: Request,
    principal: Annotated[Principal, Depends(worker_only)],
) -> JSONResponse:
    """Writes the machine's case. 200 when it updated (or already held exactly this), 201 when it
    created it; 409 when an operator has the case (in-review, confirmed, rejected)."""
    if body.call_id != call_id:
        raise HTTPException(
            422, f"body call_id {body.call_id!r} differs from the path's {call_id!r}"
        )
    stored, created = desk_of(request).put_case(
        call_id,
        fields=body.fields.model_dump(mode="json"),
        transcript=body.transcript.model_dump(mode="json"),
        metadata=body.metadata,
        actor=principal.actor,
    )
    return JSONResponse(stored.to_dict(), status_code=201 if created else 200)


@contract_router.get("/{call_id}", response_model=StoredCaseBody, summary="The case of a call")
def get_case(
    call_id: CallId,
    request: Request,
    _principal: Annotated[Principal, Depends(readers)],
) -> dict[str, Any]:
    stored = desk_of(request).get_case(call_id)
    if stored is None:
        raise CaseNotFound(f"no case for call {call_id}")
    return stored.to_dict()
