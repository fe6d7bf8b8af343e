"""Operations endpoints: ``GET /metrics`` for Prometheus and ``GET /readyz`` for load balancers.

Neither is part of the published API (both are left out of the OpenAPI document).

- ``/metrics`` answers only a bearer token equal to ``CALLSCRIBE_METRICS_TOKEN`` (compared in
  constant time); without that setting it does not exist (404). It shows this process's
  metrics and the store's calls by status, counted at scrape time.
- ``/readyz`` asks the store and the queue's Redis, each off the event loop and within
  :data:`CHECK_TIMEOUT_S`: 200 ``{"status": "ready", "checks": {...}}``, or 503 with the
  failing checks named. ``/healthz`` says only that the process and its store are alive. The
  desk never loads the model, so a worker's readiness is ``callscribe doctor`` and its metrics
  port, not this.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable

import anyio
import redis
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client.exposition import choose_encoder
from sqlalchemy import Engine, text

from callscribe import defaults
from callscribe.observability import exposition
from callscribe.settings import Settings

__all__ = ["CHECK_TIMEOUT_S", "router"]

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

CHECK_TIMEOUT_S = 2.0
"""Seconds one readiness check may take before it counts as failed."""

_CHECK_THREADS = 4
"""Threads an app lends to readiness checks; a check stuck past its timeout keeps its thread,
so a hung store or Redis can tie up at most these, never the app's shared thread pool."""


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus exposition, for the metrics token only.

    Without ``CALLSCRIBE_METRICS_TOKEN`` the route answers as an unknown one does. A refusal is
    a JSON 401 here, never the sign-in redirect pages get: the caller is a scraper.
    """
    settings: Settings = request.app.state.settings
    expected = settings.metrics_token
    if expected is None:
        raise HTTPException(404, "Not Found")
    scheme, _, offered = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        offered.strip().encode(), expected.get_secret_value().encode()
    ):
        return JSONResponse(
            {"detail": "send the metrics token as a bearer token"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(exposition(request.app.state.engine)), media_type=content_type)


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    app: FastAPI = request.app
    settings: Settings = app.state.settings
    engine: Engine = app.state.engine
    redis_url = settings.redis_url or defaults.REDIS_URL
    limiter = _limiter(app)
    store, queue = await asyncio.gather(
        _bounded("store", lambda: _ask_store(engine), limiter),
        _bounded("redis", lambda: _ask_redis(redis_url), limiter),
    )
    checks = {"store": store, "redis": queue}
    failing = sorted(name for name, outcome in checks.items() if outcome != "ok")
    if failing:
        return JSONResponse(
            {"status": "unavailable", "failing": failing, "checks": checks}, status_code=503
        )
    return JSONResponse({"status": "ready", "checks": checks})


def _limiter(app: FastAPI) -> anyio.CapacityLimiter:
    limiter: anyio.CapacityLimiter | None = getattr(app.state, "readiness_limiter", None)
    if limiter is None:
        limiter = anyio.CapacityLimiter(_CHECK_THREADS)
        app.state.readiness_limiter = limiter
    return limiter


async def _bounded(name: str, check: Callable[[], None], limiter: anyio.CapacityLimiter) -> str:
    """Run ``check`` in a thread; ``ok``, or why not (an error's type, never its text)."""
    try:
        with anyio.fail_after(CHECK_TIMEOUT_S):
            await anyio.to_thread.run_sync(check, abandon_on_cancel=True, limiter=limiter)
    except TimeoutError:
        log.warning("readiness: %s did not answer within %ss", name, CHECK_TIMEOUT_S)
        return f"no answer within {CHECK_TIMEOUT_S:g}s"
    except Exception as err:  # noqa: BLE001  (any failure of the dependency means not ready)
        log.warning("readiness: %s unavailable: %s", name, type(err).__name__)
        return f"unavailable: {type(err).__name__}"
    return "ok"


def _ask_store(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _ask_redis(url: str) -> None:
    client = redis.Redis.from_url(
        url, socket_connect_timeout=CHECK_TIMEOUT_S, socket_timeout=CHECK_TIMEOUT_S
    )
    try:
        client.ping()
    finally:
        client.close()
