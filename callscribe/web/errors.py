"""Errors as the web app answers them: one table from exception to HTTP status.

Every error body is ``{"detail": "..."}`` (:class:`~callscribe.web.schemas.ErrorBody`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from callscribe.errors import CaseNotFound, CaseStateConflict, WriteBackConflict
from callscribe.web.schemas import ErrorBody

__all__ = ["ERROR_RESPONSES", "STATUS_OF", "install_error_handlers"]

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "The body is not parseable JSON."),
        (401, "No valid bearer token or session."),
        (403, "The token's role may not do this."),
        (404, "No case for that call id."),
        (409, "The case's state forbids this."),
        (422, "The request does not validate; `detail` says where."),
    )
}


STATUS_OF: dict[type[Exception], int] = {
    CaseNotFound: 404,
    CaseStateConflict: 409,
    WriteBackConflict: 409,
}
"""The HTTP status of each domain error the routes let through."""


def install_error_handlers(app: FastAPI) -> None:
    """Every error answers ``{"detail": "..."}``."""

    async def _domain(_request: Request, err: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=STATUS_OF[type(err)])

    for error_type in STATUS_OF:
        app.add_exception_handler(error_type, _domain)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in err.errors()
        ]
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors) or "invalid"
        return JSONResponse({"detail": detail, "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, err: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": str(err.detail)}, status_code=err.status_code, headers=err.headers
        )
