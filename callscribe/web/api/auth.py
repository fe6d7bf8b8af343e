"""Sign-in for people (operators, QA), who am I, and the published contract."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from callscribe.db import iso_utc
from callscribe.desk.accounts import AuthStore, Principal, SignIn, SignInBusy
from callscribe.settings import Settings
from callscribe.web.deps import SESSION_COOKIE, current_principal
from callscribe.web.errors import ERROR_RESPONSES
from callscribe.web.openapi import openapi_document
from callscribe.web.schemas import Credentials, ErrorBody, PrincipalBody, SignInBody
from callscribe.web.security import LoginThrottle

__all__ = ["auth_router", "set_session_cookie", "sign_in_throttled"]

log = logging.getLogger(__name__)

auth_router = APIRouter()

_BUSY_RETRY_AFTER_S = 1


@auth_router.post(
    "/api/auth/login",
    tags=["auth"],
    response_model=SignInBody,
    responses={
        401: {"model": ErrorBody, "description": "Wrong name or password."},
        429: {
            "model": ErrorBody,
            "description": "Too many failed sign-ins for this user or address; see Retry-After.",
        },
        503: {
            "model": ErrorBody,
            "description": "Too many sign-ins waiting for a password check; see Retry-After.",
        },
        400: ERROR_RESPONSES[400],
        422: ERROR_RESPONSES[422],
    },
    summary="Sign in (operators, QA); sets the session cookie too",
)
def login(body: Credentials, request: Request, response: Response) -> dict[str, Any]:
    signed = sign_in_throttled(request, body.username, body.password)
    set_session_cookie(request, response, signed)
    return {
        "token": signed.token,
        "expires_at": iso_utc(signed.expires_at),
        "user": _principal_body(signed.principal),
    }


signed_in: dict[int | str, dict[str, Any]] = {401: ERROR_RESPONSES[401]}


@auth_router.post(
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


@auth_router.get(
    "/api/auth/me",
    tags=["auth"],
    response_model=PrincipalBody,
    responses=signed_in,
    summary="Who am I",
)
def me(principal: Annotated[Principal, Depends(current_principal)]) -> dict[str, Any]:
    return _principal_body(principal)


@auth_router.get(
    "/api/openapi.json",
    tags=["contract"],
    responses=signed_in,
    summary="This API as OpenAPI 3",
)
def openapi(
    request: Request, _principal: Annotated[Principal, Depends(current_principal)]
) -> dict[str, Any]:
    return openapi_document(request.app)


def sign_in_throttled(request: Request, username: str, password: str) -> SignIn:
    """Check a password unless this user or address must wait; count the failures.

    The throttle is asked twice: at once, so a locked-out guesser never queues, and again when
    the password check's turn comes (:class:`~callscribe.desk.accounts.PasswordCheckGate`), so
    attempts that queued together cannot all be checked before their failures count.

    Raises:
        HTTPException: 429 with Retry-After while throttled, 503 with Retry-After while too many
            sign-ins wait for a password check, 401 for a wrong name or password.
    """
    throttle: LoginThrottle = request.app.state.login_throttle
    keys = throttle.keys(username, request.client.host if request.client else None)

    def admit() -> None:
        wait = throttle.retry_after(keys)
        if wait:
            log.warning("sign-in throttled for %s s", wait)
            raise HTTPException(
                429,
                f"too many failed sign-ins; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )

    admit()
    auth: AuthStore = request.app.state.auth
    try:
        signed = auth.sign_in(username, password, admit=admit)
    except SignInBusy as err:
        log.warning("sign-in refused: password checks are busy")
        raise HTTPException(
            503, str(err), headers={"Retry-After": str(_BUSY_RETRY_AFTER_S)}
        ) from err
    if signed is None:
        throttle.failed(keys)
        raise HTTPException(401, "wrong user name or password")
    throttle.succeeded(keys)
    return signed


def set_session_cookie(request: Request, response: Response, signed: SignIn) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Secure unless the settings say not."""
    auth: AuthStore = request.app.state.auth
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


def _principal_body(principal: Principal) -> dict[str, Any]:
    return {"name": principal.name, "role": principal.role, "kind": principal.kind}
