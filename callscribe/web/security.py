"""What a browser-facing app needs beyond authentication: CSRF tokens, sign-in throttling and
the security headers of every response.

- **CSRF**: the token is an HMAC of the session token, so it lives and dies with the session
  and is checked server-side without storing anything. Pages put it in a hidden form field and
  in ``<meta name="csrf-token">`` for ``fetch``; an API request authenticated by the session
  cookie must send it in ``X-CSRF-Token`` for anything but GET and HEAD. Bearer-token clients
  are not exposed to CSRF and need none. The sign-in form, which has no session yet, uses a
  double-submit cookie.
- **Throttling**: after ``max_failures`` failed sign-ins for one user name or one address within
  the window, further attempts wait (429 with Retry-After) until the oldest failure ages out;
  the password is not even checked meanwhile, so a locked-out guesser costs no argon2 work.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "CSRF_HEADER",
    "LOGIN_CSRF_COOKIE",
    "SAFE_METHODS",
    "LoginThrottle",
    "csrf_matches",
    "csrf_token_for",
    "install_security_headers",
    "new_login_csrf",
]

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
LOGIN_CSRF_COOKIE = "callscribe_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
"""No inline script or style anywhere: templates load /static files only."""


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a session (derived, so nothing is stored)."""
    return hmac.new(session_token.encode(), b"callscribe-csrf-v1", hashlib.sha256).hexdigest()


def csrf_matches(session_token: str | None, supplied: str | None) -> bool:
    """Whether ``supplied`` is the CSRF token of ``session_token`` (constant time)."""
    if not session_token or not supplied:
        return False
    return hmac.compare_digest(csrf_token_for(session_token).encode(), supplied.encode())


def new_login_csrf() -> str:
    """A random value for the sign-in form's double-submit cookie."""
    return secrets.token_urlsafe(32)


class LoginThrottle:
    """Failed sign-ins per user name and per client address, in this process's memory.

    Args:
        max_failures: failures allowed within ``window_s`` before attempts must wait.
        window_s: how far back failures count.
        clock: seconds, monotonic (tests pass their own).
    """

    _MAX_KEYS = 100_000
    """Bound on remembered names and addresses; the oldest are forgotten past it."""

    def __init__(
        self,
        *,
        max_failures: int = 5,
        window_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def keys(username: str, address: str | None) -> tuple[str, ...]:
        name = f"user:{username.strip().lower()[:64]}"
        return (name, f"addr:{address}") if address else (name,)

    def retry_after(self, keys: tuple[str, ...]) -> int:
        """Seconds until any of ``keys`` may try again; 0 when all may try now."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                failures = self._recent(key, now)
                if len(failures) >= self.max_failures:
                    oldest_that_counts = failures[len(failures) - self.max_failures]
                    wait = max(wait, oldest_that_counts + self.window_s - now)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, keys: tuple[str, ...]) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                failures = self._recent(key, now)
                failures.append(now)
                self._failures[key] = failures
            while len(self._failures) > self._MAX_KEYS:
                self._failures.pop(next(iter(self._failures)))

    def succeeded(self, keys: tuple[str, ...]) -> None:
        """A right password clears the user's count (not the address's)."""
        with self._lock:
            for key in keys:
                if key.startswith("user:"):
                    self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures


def install_security_headers(app: FastAPI) -> None:
    """Every response: CSP without inline script, no framing, no sniffing, no referrer."""

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response
