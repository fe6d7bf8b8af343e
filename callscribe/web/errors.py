"""Errors as the web app answers them: one table from exception to HTTP status.

Every error body is ``{"detail": "..."}`` (:class:`~callscribe.web.schemas.ErrorBody`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from callscribe.errors import CaseNotFound, CaseStateConflict, WriteBackConflict
from callscribe.web.schemas import ErrorBody

__all__ = [
    "ERROR_RESPONSES",
    "STATUS_OF",
    "PageError",
    "install_error_handlers",
    "is_page_request",
]

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


API_PREFIXES = ("/api/", "/calls", "/healthz", "/static/")

PageError = Callable[[Request, int, str, Mapping[str, str] | None], Response]
"""Renders an error as a page for a person (status, detail, headers)."""


def is_page_request(request: Request) -> bool:
    """A request a person's browser made for a page (not the API, not a static file)."""
    return not request.url.path.startswith(API_PREFIXES)


def install_error_handlers(app: FastAPI, *, page_error: PageError | None = None) -> None:
    """Every API error answers ``{"detail": "..."}``; pages answer an error page instead."""

    async def _domain(request: Request, err: Exception) -> Response:
        status = STATUS_OF[type(err)]
        if page_error is not None and is_page_request(request):
            return page_error(request, status, str(err), None)
        return JSONResponse({"detail": str(err)}, status_code=status)

    for error_type in STATUS_OF:
        app.add_exception_handler(error_type, _domain)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> Response:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in err.errors()
        ]
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors) or "invalid"
        if page_error is not None and is_page_request(request):
            return page_error(request, 422, detail, None)
        return JSONResponse({"detail": detail, "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: StarletteHTTPException) -> Response:
        if page_error is not None and is_page_request(request):
            return page_error(request, err.status_code, str(err.detail), err.headers)
        return JSONResponse(
            {"detail": str(err.detail)}, status_code=err.status_code, headers=err.headers
        )
