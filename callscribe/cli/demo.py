"""The first README command: queue the bundled sample calls, work them off, print each case,
and with ``--serve`` show them on the desk as operators and QA see them."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from callscribe.cli._common import echo_json, main, reported, settings_or_exit
from callscribe.ledger import CallStatus
from callscribe.settings import Settings


@main.command()
@click.argument("audio", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--serve",
    is_flag=True,
    help="Then serve the case desk on the processed calls, with one-time demo sign-ins.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve: interface.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
def demo(audio: tuple[Path, ...], serve: bool, host: str, port: int) -> None:
    """Queue the bundled sample calls, work them off in burst mode, print each filled case.

    With ``--serve`` the case desk then serves them until stopped (Ctrl-C), as operators and
    QA see them; the demo accounts get a new random password each run, printed once.
    """
    from callscribe.cli.redis_server import resolve_redis
    from callscribe.intake.queue import connect, enqueue_call, open_queue
    from callscribe.intake.register import register_call_file
    from callscribe.runtime import open_runtime
    from callscribe.worker.worker import CallWorker

    settings = settings_or_exit()
    paths = list(audio) or sorted(Path("fixtures/calls").glob("*.wav"))
    if not paths:
        raise click.ClickException("no sample calls found in fixtures/calls")
    runtime = open_runtime(settings)
    with reported():
        url, private = resolve_redis(settings.redis_url, settings.data)
    try:
        with reported():
            connection = connect(url)
            queue = open_queue(connection, settings.queue)
            call_ids = []
            for path in paths:
                record, _ = register_call_file(path, ledger=runtime.ledger, data_dir=settings.data)
                if record.status != CallStatus.DONE:
                    enqueue_call(queue, record.call_id, job_timeout_s=settings.job_timeout_s)
                call_ids.append((path.name, record.call_id))
                click.echo(f"queued {path.name} as call {record.call_id[:12]}")
            CallWorker([queue], connection=connection, serializer=queue.serializer).work(
                burst=True, logging_level=logging.getLogger().level
            )
        for name, call_id in call_ids:
            final = runtime.ledger.get(call_id)
            case = runtime.case_system.get_case(call_id)
            click.echo(f"\n== {name}: {final.status_line if final else 'unknown'}")
            if case is not None:
                echo_json(
                    {k: v for k, v in case.fields.items() if k not in ("evidence", "confidence")}
                )
        if serve:
            _serve_demo(settings.model_copy(update={"redis_url": url}), host, port)
    finally:
        runtime.engine.dispose()
        if private is not None:
            private.stop()


DEMO_ACCOUNTS = (("demo-operator", "operator"), ("demo-qa", "qa"))


def _exit_quietly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _serve_demo(settings: Settings, host: str, port: int) -> None:
    """Serve the desk with fresh one-time passwords for the demo accounts."""
    import secrets
    import signal

    import uvicorn

    from callscribe.desk.accounts import AuthStore
    from callscribe.errors import ConfigurationError
    from callscribe.web.app import create_app

    with reported():
        app = create_app(settings)
    # The burst worker left rq's stop handlers installed, and uvicorn hands a captured signal
    # on to the previous handler when it has shut down: make that a clean exit.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _exit_quietly)
    auth: AuthStore = app.state.auth
    logins = []
    for name, role in DEMO_ACCOUNTS:
        password = secrets.token_urlsafe(12)
        try:
            auth.add_user(name, role, password)
        except ConfigurationError:
            auth.set_password(name, password)
            auth.enable_user(name)
        logins.append((name, role, password))
    address = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/login"
    click.echo(f"\ncase desk: {address}   (Ctrl-C stops it)")
    for name, role, password in logins:
        click.echo(f"  {role:<9} user {name}  password {password}  (this run only)")
    uvicorn.run(app, host=host, port=port, log_config=None, proxy_headers=False)
