"""What every command shares: the root group, logging set-up, settings, error reporting.

Logging is configured here and nowhere else in callscribe.
"""

from __future__ import annotations

import json
import logging.config
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from callscribe.errors import CallscribeError
from callscribe.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "JsonLogFormatter",
    "configure_logging",
    "echo_json",
    "main",
    "metrics_port_option",
    "reported",
    "serve_metrics_if_asked",
    "settings_or_exit",
]

LOG_FORMATS = ("text", "json")

_F = TypeVar("_F", bound=Callable[..., Any])


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, and ``call_id``
    when the record names a call.

    A record names a call through ``extra={"call_id": ...}``, or, by the house rule that the
    call id comes first, when its message starts with ``call %s`` (the first argument).
    A traceback, when there is one, goes into ``exception`` on the same line.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        call_id = _call_id_of(record)
        if call_id is not None:
            entry["call_id"] = call_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _call_id_of(record: logging.LogRecord) -> str | None:
    explicit = getattr(record, "call_id", None)
    if explicit is not None:
        return str(explicit)
    if (
        isinstance(record.msg, str)
        and record.msg.startswith("call %s")
        and isinstance(record.args, tuple)
        and record.args
    ):
        return str(record.args[0])
    return None


def configure_logging(level: str, log_format: str = "text") -> None:
    """Log ``level`` and up to stderr, as text lines or (``json``) one JSON object a line."""
    formatter: dict[str, Any] = (
        {"()": JsonLogFormatter}
        if log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"chosen": formatter},
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "formatter": "chosen",
                    "stream": "ext://sys.stderr",
                }
            },
            "root": {"level": level, "handlers": ["stderr"]},
            "loggers": {"faster_whisper": {"level": "WARNING"}, "jieba": {"level": "WARNING"}},
        }
    )


def settings_or_exit() -> Settings:
    try:
        return get_settings()
    except CallscribeError as err:
        raise click.ClickException(str(err)) from err


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


@contextmanager
def reported() -> Iterator[None]:
    """Turn our errors into one clear line on stderr and a non-zero exit."""
    try:
        yield
    except CallscribeError as err:
        raise click.ClickException(str(err)) from err


def metrics_port_option(command: _F) -> _F:
    """``--metrics-port``: serve this process's metrics there (default CALLSCRIBE_METRICS_PORT)."""
    return click.option(
        "--metrics-port",
        type=click.IntRange(1, 65535),
        default=None,
        help="Serve /metrics on this port of CALLSCRIBE_METRICS_ADDR (default "
        "CALLSCRIBE_METRICS_PORT; unset: no metrics port).",
    )(command)


def serve_metrics_if_asked(
    settings: Settings, port: int | None, store: Callable[[], Engine] | None = None
) -> None:
    """Start the metrics port when ``port`` or ``CALLSCRIBE_METRICS_PORT`` asks for one.

    ``store`` gives the engine whose calls each scrape counts by status; it is called only
    when a port is served.

    Raises:
        click.ClickException: the port cannot be bound; the message names it.
    """
    from callscribe.observability import serve_metrics

    port = port if port is not None else settings.metrics_port
    if port is None:
        return
    try:
        serve_metrics(port, settings.metrics_addr, store=store() if store else None)
    except OSError as err:
        raise click.ClickException(
            f"CALLSCRIBE_METRICS_PORT: cannot serve metrics on {settings.metrics_addr}:{port}: "
            f"{err.strerror or err}"
        ) from err


@click.group()
@click.option(
    "--log-level",
    default="WARNING",
    envvar="CALLSCRIBE_LOG_LEVEL",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    show_default=True,
)
@click.option(
    "--log-format",
    default="text",
    envvar="CALLSCRIBE_LOG_FORMAT",
    type=click.Choice(LOG_FORMATS, case_sensitive=False),
    show_default=True,
    help="json: one JSON object per line (time, level, logger, message, call_id).",
)
@click.version_option(package_name="callscribe")
def main(log_level: str, log_format: str) -> None:
    """Transcribe Mandarin hotline calls and fill work orders (工单)."""
    configure_logging(log_level.upper(), log_format.lower())
