"""What every page shares: the templates, who is signed in, CSRF on forms, and rendering.

Pages sign in through the session cookie only (a bearer token is for API clients). A page
asked for without a valid session redirects to ``/login?next=...``; a role the page does not
admit gets a 403 page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from callscribe.desk.accounts import AuthStore, Principal
from callscribe.web.deps import SESSION_COOKIE
from callscribe.web.security import CSRF_FIELD, csrf_matches, csrf_token_for

__all__ = [
    "HOME_OF_ROLE",
    "LoginRequired",
    "PageUser",
    "error_page",
    "install_page_handlers",
    "page_user",
    "render",
    "safe_next",
    "templates",
    "verify_csrf_form",
]

HOME_OF_ROLE = {"operator": "/review", "qa": "/audit", "qa-redacted": "/audit"}
"""Where each role lands after signing in."""


class LoginRequired(Exception):
    """No valid session: the page redirects to the sign-in form."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True)
class PageUser:
    """A person signed in to a page, with the CSRF token of their session."""

    principal: Principal
    csrf_token: str

    @property
    def name(self) -> str:
        return self.principal.name

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def redacted(self) -> bool:
        """May audit but not see personal data."""
        return self.principal.role == "qa-redacted"


@functools.cache
def templates() -> Jinja2Templates:
    """The page templates; autoescaping is on for every template, whatever its name."""
    directory = str(resources.files("callscribe.web").joinpath("templates"))
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Jinja2Templates(env=env)


def safe_next(value: str | None, default: str = "/") -> str:
    """A same-site path to go to after signing in; anything else becomes ``default``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if len(value) > 512 or any(ord(c) < 32 for c in value):
        return default
    return value


def page_user(*roles: str) -> Callable[[Request], PageUser]:
    """A dependency: the signed-in person, when their role may see this page."""

    def dependency(request: Request) -> PageUser:
        token = request.cookies.get(SESSION_COOKIE)
        store: AuthStore = request.app.state.auth
        principal = store.authenticate(token) if token else None
        if principal is None or principal.kind != "user":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(safe_next(target))
        if principal.role not in roles:
            raise HTTPException(403, f"role {principal.role!r} may not open this page")
        assert token is not None
        return PageUser(principal, csrf_token_for(token))

    return dependency


def verify_csrf_form(request: Request, form: Mapping[str, Any]) -> None:
    """Refuse a form POST whose CSRF field is not its session's token (403)."""
    supplied = form.get(CSRF_FIELD)
    if not csrf_matches(request.cookies.get(SESSION_COOKIE), str(supplied or "")):
        raise HTTPException(403, "CSRF check failed: reload the page and try again")


def render(
    request: Request,
    template: str,
    user: PageUser | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page with the context every page gets (user, CSRF token, navigation)."""
    response: HTMLResponse = templates().TemplateResponse(
        request,
        template,
        {
            "user": user,
            "csrf_token": user.csrf_token if user else "",
            "csrf_field": CSRF_FIELD,
            **context,
        },
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def login_redirect(next_path: str) -> Response:
    return RedirectResponse(f"/login?next={quote(next_path, safe='/')}", status_code=303)


def require_page(*roles: str) -> Any:
    """``Depends`` of :func:`page_user` (for route signatures)."""
    return Depends(page_user(*roles))


def error_page(
    request: Request, status_code: int, detail: str, headers: Mapping[str, str] | None
) -> Response:
    """An HTTP error as a page; a 401 sends the person to the sign-in form."""
    if status_code == 401:
        return login_redirect(safe_next(request.url.path))
    response = render(
        request,
        "error.html",
        None,
        status_code=status_code,
        title=str(status_code),
        code=status_code,
        detail=detail,
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def install_page_handlers(app: FastAPI) -> None:
    """Pages without a session redirect to the sign-in form."""

    @app.exception_handler(LoginRequired)
    async def _login(_request: Request, err: LoginRequired) -> Response:
        return login_redirect(err.next_path)
