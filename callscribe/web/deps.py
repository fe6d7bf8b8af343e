"""FastAPI dependencies shared by the routers: who is asking, and may they."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from callscribe.desk.accounts import AuthStore, Principal
from callscribe.desk.store import EmbeddedCaseDesk
from callscribe.web.schemas import CALL_ID_PATTERN
from callscribe.web.security import CSRF_HEADER, SAFE_METHODS, csrf_matches

__all__ = ["SESSION_COOKIE", "CallId", "current_principal", "desk_of", "require"]

SESSION_COOKIE = "callscribe_session"

CallId = Annotated[
    str,
    Path(
        pattern=CALL_ID_PATTERN,
        description="The call id (idempotency key).",
        examples=["call-0001"],
    ),
]


def desk_of(request: Request) -> EmbeddedCaseDesk:
    """The app's case desk store."""
    desk: EmbeddedCaseDesk = request.app.state.desk
    return desk


_bearer = HTTPBearer(auto_error=False, description="A session token or a service token.")


def current_principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
) -> Principal:
    """The request's principal, from ``Authorization: Bearer`` or the session cookie.

    A request signed in by the cookie alone must carry the session's CSRF token in
    ``X-CSRF-Token`` unless it is a GET or HEAD (a browser sends cookies on its own).
    """
    token = credentials.credentials if credentials is not None else None
    from_cookie = not token
    token = token or request.cookies.get(SESSION_COOKIE)
    if not token:
        raise HTTPException(
            401, "sign in, or send a bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
    store: AuthStore = request.app.state.auth
    principal = store.authenticate(token)
    if principal is None:
        raise HTTPException(
            401, "token unknown, revoked or expired", headers={"WWW-Authenticate": "Bearer"}
        )
    if (
        from_cookie
        and request.method not in SAFE_METHODS
        and not csrf_matches(token, request.headers.get(CSRF_HEADER))
    ):
        raise HTTPException(403, f"CSRF check failed: send the page's token in {CSRF_HEADER}")
    return principal


def require(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency admitting only the given roles (403 for the others)."""

    def dependency(principal: Principal = Depends(current_principal)) -> Principal:  # noqa: B008
        if principal.role not in roles:
            raise HTTPException(403, f"role {principal.role!r} may not do this")
        return principal

    return dependency
