"""The write-back contract (``/api/cases/{call_id}``) every case system implements; the worker
PUTs the machine's case here.

Bodies are bounded before FastAPI parses them: at most :data:`MAX_BODY_BYTES`, counted while
reading (a declared Content-Length over it is refused before any byte is read), and at most
:data:`MAX_BODY_DEPTH` levels of JSON; then :class:`~callscribe.web.schemas.CaseWrite` checks
each field's values and sizes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from callscribe.desk.accounts import Principal
from callscribe.errors import CaseNotFound
from callscribe.intake.metadata import METADATA_MAX_DEPTH
from callscribe.web.deps import CallId, desk_of, require
from callscribe.web.errors import ERROR_RESPONSES
from callscribe.web.schemas import CaseWrite, ErrorBody, StoredCaseBody, depth_over

__all__ = ["MAX_BODY_BYTES", "MAX_BODY_DEPTH", "contract_router"]

MAX_BODY_BYTES = 8 * 1024 * 1024
"""Bytes of one write-back body; a two-hour call's case is well under 2 MiB."""

MAX_BODY_DEPTH = 2 * METADATA_MAX_DEPTH
"""Levels of JSON in one body; deep enough that the metadata's own, lower, limit is the one a
too-deep metadata meets, so that the answer names it."""


class _BoundedJsonRequest(Request):
    """A request whose body is read with a limit and whose JSON is checked for depth."""

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            declared = self.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                raise _too_large()
            chunks: list[bytes] = []
            received = 0
            async for chunk in self.stream():
                received += len(chunk)
                if received > MAX_BODY_BYTES:
                    raise _too_large()
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                value = json.loads(body)
            except RecursionError as err:
                raise _too_deep() from err
            if depth_over(value, MAX_BODY_DEPTH):
                raise _too_deep()
            self._json = value
        return self._json


def _too_large() -> HTTPException:
    """413 and ``Connection: close``, so that uvicorn reads no more of the body to keep the
    connection."""
    return HTTPException(
        413, f"body: over the {MAX_BODY_BYTES} byte limit", headers={"Connection": "close"}
    )


def _too_deep() -> HTTPException:
    return HTTPException(422, f"body: JSON nested more than {MAX_BODY_DEPTH} levels deep")


class _BoundedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            return await handler(_BoundedJsonRequest(request.scope, request.receive))

        return bounded


contract_router = APIRouter(
    prefix="/api/cases",
    tags=["write-back contract"],
    responses={
        **ERROR_RESPONSES,
        413: {"model": ErrorBody, "description": f"The body is over {MAX_BODY_BYTES} bytes."},
    },
    route_class=_BoundedRoute,
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
