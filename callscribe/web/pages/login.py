"""Signing in and out through the browser, and the landing redirect."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from callscribe.desk.accounts import AuthStore
from callscribe.web.api.auth import set_session_cookie, sign_in_throttled
from callscribe.web.deps import SESSION_COOKIE
from callscribe.web.pages.common import (
    HOME_OF_ROLE,
    PageUser,
    page_user,
    render,
    safe_next,
    verify_csrf_form,
)
from callscribe.web.security import LOGIN_CSRF_COOKIE, new_login_csrf

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_MAX_FORM_FIELD = 512

anyone = page_user("operator", "qa", "qa-redacted")


@router.get("/")
def home(user: Annotated[PageUser, Depends(anyone)]) -> Response:
    return RedirectResponse(HOME_OF_ROLE.get(user.role, "/login"), status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    return _login_page(request, next_path=safe_next(next), error=None)


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=4, max_part_size=_MAX_FORM_FIELD)
    username = str(form.get("username") or "")[:_MAX_FORM_FIELD]
    password = str(form.get("password") or "")[:_MAX_FORM_FIELD]
    next_path = safe_next(str(form.get("next") or ""))
    supplied = str(form.get("login_csrf") or "")
    if not supplied or supplied != request.cookies.get(LOGIN_CSRF_COOKIE):
        return _login_page(
            request, next_path=next_path, error="the form expired; try again", status_code=403
        )
    try:
        signed = await run_in_threadpool(sign_in_throttled, request, username, password)
    except HTTPException as err:
        response = _login_page(
            request, next_path=next_path, error=str(err.detail), status_code=err.status_code
        )
        if err.headers and "Retry-After" in err.headers:
            response.headers["Retry-After"] = err.headers["Retry-After"]
        return response
    target = next_path if next_path != "/" else HOME_OF_ROLE.get(signed.principal.role, "/")
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, signed)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout_submit(request: Request, user: Annotated[PageUser, Depends(anyone)]) -> Response:
    form = await request.form(max_files=0, max_fields=2, max_part_size=_MAX_FORM_FIELD)
    verify_csrf_form(request, form)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth: AuthStore = request.app.state.auth
        auth.sign_out(token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _login_page(
    request: Request, *, next_path: str, error: str | None, status_code: int = 200
) -> Response:
    value = new_login_csrf()
    response = render(
        request,
        "login.html",
        None,
        status_code=status_code,
        title="登录 Sign in",
        next_path=next_path,
        login_csrf=value,
        error=error,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        value,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.desk_secure_cookies,
        path="/login",
    )
    return response
