"""The case desk's one web app: ``create_app()`` for uvicorn (``callscribe serve``).

It serves the write-back contract the worker speaks to any case system, the review API for the
operator and QA pages, sign-in, and the upload API. Every route needs a token or a session
except ``GET /healthz`` and ``POST /api/auth/login``. The app never imports Whisper or the
worker: uploads are queued by job name on the Redis at ``REDIS_URL``; it never starts one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from callscribe.db import make_engine, upgrade_database
from callscribe.desk.accounts import AuthStore, PasswordCheckGate
from callscribe.desk.store import EmbeddedCaseDesk
from callscribe.ledger import CallLedger
from callscribe.settings import Settings, get_settings
from callscribe.web.api import calls
from callscribe.web.api.auth import auth_router
from callscribe.web.api.cases import contract_router
from callscribe.web.api.desk import desk_router
from callscribe.web.api.ops import router as ops_router
from callscribe.web.deps import require
from callscribe.web.errors import ERROR_RESPONSES, install_error_handlers
from callscribe.web.pages import audit as audit_page
from callscribe.web.pages import login as login_page
from callscribe.web.pages import review as review_page
from callscribe.web.pages.common import error_page, install_page_handlers
from callscribe.web.security import LoginThrottle, install_security_headers

__all__ = ["create_app"]

log = logging.getLogger(__name__)

UPLOAD_ROLES = ("recorder", "operator")
API_VERSION = "1.0.0"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app on the store named by ``settings`` (default: the environment's).

    Opening the store runs its pending migrations. The app owns its engine and its Redis
    connection; both are closed when the app shuts down.
    """
    settings = settings or get_settings()
    settings.data.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    upgrade_database(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            calls.close_queues(app)
            engine.dispose()

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
    app.state.engine = engine
    app.state.ledger = CallLedger(engine)
    app.state.desk = EmbeddedCaseDesk(engine)
    worker_token = settings.desk_worker_token
    app.state.auth = AuthStore(
        engine,
        worker_token=worker_token.get_secret_value() if worker_token else None,
        session_hours=settings.desk_session_hours,
        password_checks=PasswordCheckGate(
            concurrent=settings.desk_login_concurrency, waiting=settings.desk_login_queue
        ),
    )
    app.state.login_throttle = LoginThrottle(
        max_failures=settings.desk_login_max_failures, window_s=settings.desk_login_window_s
    )
    install_error_handlers(app, page_error=error_page)
    install_page_handlers(app)
    _add_health(app)
    app.include_router(ops_router)
    app.include_router(auth_router)
    app.include_router(login_page.router)
    app.include_router(review_page.router)
    app.include_router(audit_page.router)
    app.mount("/static", StaticFiles(packages=[("callscribe.web", "static")]), name="static")
    app.include_router(contract_router)
    app.include_router(desk_router)
    app.include_router(
        calls.router,
        dependencies=[Depends(require(*UPLOAD_ROLES))],
        responses={code: ERROR_RESPONSES[code] for code in (401, 403)},
    )

    install_security_headers(app)
    return app


def _add_health(app: FastAPI) -> None:
    @app.get(
        "/healthz",
        tags=["health"],
        responses={503: {"description": "The store does not answer."}},
        summary="Liveness and store check (no auth)",
    )
    def healthz(request: Request) -> JSONResponse:
        try:
            with request.app.state.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as err:  # noqa: BLE001  (any store failure means unhealthy)
            log.warning("health check: store unavailable: %s", type(err).__name__)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})
