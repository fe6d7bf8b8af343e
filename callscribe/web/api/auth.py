"""Sign-in for people (operators, QA), who am I, and the published contract."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from callscribe.db import iso_utc
from callscribe.desk.accounts import AuthStore, Principal
from callscribe.settings import Settings
from callscribe.web.deps import SESSION_COOKIE, current_principal
from callscribe.web.errors import ERROR_RESPONSES
from callscribe.web.openapi import openapi_document
from callscribe.web.schemas import Credentials, ErrorBody, PrincipalBody, SignInBody

__all__ = ["auth_router"]

auth_router = APIRouter()


@auth_router.post(
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


def _principal_body(principal: Principal) -> dict[str, Any]:
    return {"name": principal.name, "role": principal.role, "kind": principal.kind}
