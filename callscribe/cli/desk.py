"""Case desk commands: serve, users, tokens, openapi."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from callscribe.cli._common import main, reported, settings_or_exit
from callscribe.desk.accounts import PEOPLE_ROLES, AuthStore
from callscribe.settings import Settings


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
def serve(host: str, port: int) -> None:
    """Serve the embedded case desk (pages, write-back API, review API, uploads) with uvicorn.

    With no ``REDIS_URL`` and no Redis on the default port, a private redis-server is started
    for uploads' queue and stopped when the desk stops. Requests are logged at INFO as method,
    path, status and duration: never the query string or the client's address.
    """
    import uvicorn

    from callscribe.cli.redis_server import resolve_redis
    from callscribe.web.access_log import AccessLog
    from callscribe.web.app import create_app

    settings = settings_or_exit()
    with reported():
        url, private = resolve_redis(settings.redis_url, settings.data)
    try:
        with reported():
            app = create_app(settings.model_copy(update={"redis_url": url}))
        uvicorn.run(
            AccessLog(app),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            proxy_headers=False,
        )
    finally:
        if private is not None:
            private.stop()


def _auth_store() -> AuthStore:
    from callscribe.runtime import open_runtime

    return AuthStore(open_runtime(settings_or_exit()).engine)


@main.group()
def users() -> None:
    """People who sign in to the case desk (operators, QA, QA without personal data)."""


@users.command(name="add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(PEOPLE_ROLES))
@click.password_option(help="Prompted for (twice) unless piped in.")
def users_add(name: str, role: str, password: str) -> None:
    """Create a person's account; the password is stored as an argon2 hash."""
    with reported():
        _auth_store().add_user(name, role, password)
    click.echo(f"user {name} ({role}) added")


@users.command(name="disable")
@click.argument("name")
def users_disable(name: str) -> None:
    """Stop NAME signing in and end their sessions."""
    with reported():
        _auth_store().disable_user(name)
    click.echo(f"user {name} disabled; their sessions are ended")


@users.command(name="enable")
@click.argument("name")
def users_enable(name: str) -> None:
    """Let NAME sign in again."""
    with reported():
        _auth_store().enable_user(name)
    click.echo(f"user {name} enabled")


@users.command(name="passwd")
@click.argument("name")
@click.password_option(help="Prompted for (twice) unless piped in.")
def users_passwd(name: str, password: str) -> None:
    """Set NAME's password and end the sessions opened with the old one."""
    with reported():
        _auth_store().set_password(name, password)
    click.echo(f"password of {name} changed; their sessions are ended")


@users.command(name="list")
def users_list() -> None:
    """List accounts: name, role, active."""
    for name, role, active in _auth_store().list_users():
        click.echo(f"{name}\t{role}\t{'active' if active else 'disabled'}")


@main.group()
def tokens() -> None:
    """Service tokens for the worker's write-back and for call recorders."""


@tokens.command(name="add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["worker", "recorder"]))
def tokens_add(name: str, role: str) -> None:
    """Create a token and print it once (only its SHA-256 is kept)."""
    with reported():
        token = _auth_store().add_token(name, role)
    click.echo(token)


@tokens.command(name="revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Revoke a token by name."""
    if not _auth_store().revoke_token(name):
        raise click.ClickException(f"no active token named {name}")
    click.echo(f"token {name} revoked")


@tokens.command(name="list")
def tokens_list() -> None:
    """List tokens: name, role, active or revoked."""
    for name, role, active in _auth_store().list_tokens():
        click.echo(f"{name}\t{role}\t{'active' if active else 'revoked'}")


@main.command()
@click.option("--output", type=click.Path(path_type=Path), help="Write here instead of stdout.")
def openapi(output: Path | None) -> None:
    """Print the case desk's OpenAPI contract (docs/openapi.json is this)."""
    from callscribe.web.app import create_app
    from callscribe.web.openapi import openapi_text

    with tempfile.TemporaryDirectory(prefix="callscribe-openapi-") as tmp:
        app = create_app(Settings(data=Path(tmp), db_url=f"sqlite:///{tmp}/openapi.db"))
        document = openapi_text(app)
        app.state.engine.dispose()
    if output is None:
        click.echo(document, nl=False)
    else:
        output.write_text(document, encoding="utf-8")
