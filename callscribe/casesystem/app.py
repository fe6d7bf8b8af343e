"""The embedded case desk's web app: ``create_app()`` for uvicorn (``callscribe serve``).

It serves the write-back contract the worker speaks to any case system, the read and review API
for the operator and QA pages, sign-in, and (when intake's module is present) the upload API.
Every route needs a token or a session except ``GET /healthz`` and ``POST /api/auth/login``.
The app never imports Whisper: uploads are queued by job name.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from callscribe.casesystem.api_models import (
    Credentials,
    ErrorBody,
    PrincipalBody,
    SignInBody,
)
from callscribe.casesystem.auth import (
    SESSION_COOKIE,
    AuthStore,
    Principal,
    current_principal,
    require,
)
from callscribe.casesystem.embedded import EmbeddedCaseDesk
from callscribe.casesystem.routes import ERROR_RESPONSES, contract_router, desk_router
from callscribe.db import iso_utc
from callscribe.errors import CaseNotFound, CaseStateConflict, WriteBackConflict
from callscribe.runtime import open_runtime
from callscribe.settings import Settings, get_settings

__all__ = ["create_app", "openapi_document"]

log = logging.getLogger(__name__)

UPLOAD_MODULE = "callscribe.casesystem.calls_api"
UPLOAD_ROLES = ("recorder", "operator")
API_VERSION = "1.0.0"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app on the store named by ``settings`` (default: the environment's).

    Opening the store runs its pending migrations.
    """
    settings = settings or get_settings()
    runtime = open_runtime(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        runtime.engine.dispose()

    app = FastAPI(
        title="callscribe case desk",
        version=API_VERSION,
        description=(
            "The embedded case system (工单系统) of callscribe. `PUT /api/cases/{call_id}` is the "
            "write-back contract any case system implements for the worker; `/api/desk` is the "
            "review API for operators and QA. Send `Authorization: Bearer <token>`: a service "
            "token (`callscribe tokens add`) or the token `POST /api/auth/login` returns."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.desk = EmbeddedCaseDesk(runtime.engine)
    worker_token = settings.desk_worker_token
    app.state.auth = AuthStore(
        runtime.engine,
        worker_token=worker_token.get_secret_value() if worker_token else None,
        session_hours=settings.desk_session_hours,
    )
    _install_error_handlers(app)
    _add_core_routes(app)
    app.include_router(contract_router)
    app.include_router(desk_router)
    _include_uploads(app)

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    return app


def _include_uploads(app: FastAPI) -> None:
    """Mount intake's upload API (``POST /calls``) behind the recorder and operator roles."""
    if importlib.util.find_spec(UPLOAD_MODULE) is None:
        log.info("no %s module; the upload API is not served", UPLOAD_MODULE)
        return
    module = importlib.import_module(UPLOAD_MODULE)
    app.include_router(
        module.router,
        dependencies=[Depends(require(*UPLOAD_ROLES))],
        responses={code: ERROR_RESPONSES[code] for code in (401, 403)},
    )


def _add_core_routes(app: FastAPI) -> None:
    @app.get(
        "/healthz",
        tags=["health"],
        responses={503: {"description": "The store does not answer."}},
        summary="Liveness and store check (no auth)",
    )
    def healthz(request: Request) -> JSONResponse:
        try:
            with request.app.state.runtime.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as err:  # noqa: BLE001  (any store failure means unhealthy)
            log.warning("health check: store unavailable: %s", type(err).__name__)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.post(
        "/api/auth/login",
        tags=["auth"],
        response_model=SignInBody,
        responses={
            401: {"model": ErrorBody, "description": "Wrong name or password."},
            400: ERROR_RESPONSES[400],
            422: ERROR_RESPONSES[422],
        },
        summary="Sign in (operators, QA); sets the session cookie too",
    )
    def login(body: Credentials, request: Request, response: Response) -> dict[str, Any]:
        auth: AuthStore = request.app.state.auth
        signed = auth.sign_in(body.username, body.password)
        if signed is None:
            raise HTTPException(401, "wrong user name or password")
        settings: Settings = request.app.state.settings
        response.set_cookie(
            SESSION_COOKIE,
            signed.token,
            max_age=int(auth.session_lifetime.total_seconds()),
            httponly=True,
            samesite="strict",
            secure=settings.desk_secure_cookies,
            path="/",
        )
        return {
            "token": signed.token,
            "expires_at": iso_utc(signed.expires_at),
            "user": _principal_body(signed.principal),
        }

    signed_in: dict[int | str, dict[str, Any]] = {401: ERROR_RESPONSES[401]}

    @app.post(
        "/api/auth/logout",
        tags=["auth"],
        status_code=204,
        responses=signed_in,
        summary="End this session",
    )
    def logout(
        request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Response:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        token = token or request.cookies.get(SESSION_COOKIE, "")
        if principal.kind == "user" and token:
            request.app.state.auth.sign_out(token)
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get(
        "/api/auth/me",
        tags=["auth"],
        response_model=PrincipalBody,
        responses=signed_in,
        summary="Who am I",
    )
    def me(principal: Annotated[Principal, Depends(current_principal)]) -> dict[str, Any]:
        return _principal_body(principal)

    @app.get(
        "/api/openapi.json",
        tags=["contract"],
        responses=signed_in,
        summary="This API as OpenAPI 3",
    )
    def openapi(
        request: Request, _principal: Annotated[Principal, Depends(current_principal)]
    ) -> dict[str, Any]:
        return openapi_document(request.app)


def _principal_body(principal: Principal) -> dict[str, Any]:
    return {"name": principal.name, "role": principal.role, "kind": principal.kind}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The published contract (``docs/openapi.json`` is this, written by ``callscribe openapi``)."""
    from fastapi.openapi.utils import get_openapi

    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    _validation_errors_as_detail(document)
    return document


def _validation_errors_as_detail(document: dict[str, Any]) -> None:
    """Describe 422 as the app answers it (``ErrorBody``), not as FastAPI's default list."""
    default = "#/components/schemas/HTTPValidationError"
    ours = "#/components/schemas/ErrorBody"
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            content = operation.get("responses", {}).get("422", {}).get("content", {})
            for media in content.values():
                if media.get("schema", {}).get("$ref") == default:
                    media["schema"] = {"$ref": ours}
    schemas = document.get("components", {}).get("schemas", {})
    if default.rsplit("/", 1)[1] not in json.dumps(document.get("paths", {})):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)


def openapi_text(app: FastAPI) -> str:
    """:func:`openapi_document` as the text kept in docs/ (stable key order, UTF-8)."""
    return json.dumps(openapi_document(app), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def _install_error_handlers(app: FastAPI) -> None:
    """Every error answers ``{"detail": "..."}``."""

    @app.exception_handler(CaseNotFound)
    async def _not_found(_request: Request, err: CaseNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=404)

    @app.exception_handler(CaseStateConflict)
    async def _state(_request: Request, err: CaseStateConflict) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=409)

    @app.exception_handler(WriteBackConflict)
    async def _conflict(_request: Request, err: WriteBackConflict) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=409)

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
