"""The desk's access log: one line per request with its method, path, status and duration.

It replaces uvicorn's own access log, which writes the query string (``/calls?phone=...``) and
the client's address: query strings may hold phone numbers and names, which never go to a log.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLog"]

log = logging.getLogger(__name__)

_PATH_MAX_CHARS = 200


class AccessLog:
    """ASGI middleware logging ``METHOD PATH STATUS DURATION`` at INFO once a request ends.

    The path is the decoded path without its query string, escaped if it holds anything but
    printable characters and cut to 200 characters. A request that fails before answering is
    logged with status 500.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            log.info(
                "%s %s %d %.1f ms",
                scope.get("method", "?"),
                _shown(str(scope.get("path", ""))),
                status,
                (time.perf_counter() - started) * 1000,
            )


def _shown(path: str) -> str:
    shown = path if path.isprintable() else ascii(path)[1:-1]
    return shown if len(shown) <= _PATH_MAX_CHARS else shown[: _PATH_MAX_CHARS - 3] + "..."
