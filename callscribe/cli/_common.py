"""What every command shares: the root group, logging set-up, settings, error reporting.

Logging is configured here and nowhere else in callscribe.
"""

from __future__ import annotations

import json
import logging.config
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from callscribe.errors import CallscribeError
from callscribe.settings import Settings, get_settings

__all__ = ["configure_logging", "echo_json", "main", "reported", "settings_or_exit"]


def configure_logging(level: str) -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "formatter": "plain",
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


@click.group()
@click.option(
    "--log-level",
    default="WARNING",
    envvar="CALLSCRIBE_LOG_LEVEL",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    show_default=True,
)
@click.version_option(package_name="callscribe")
def main(log_level: str) -> None:
    """Transcribe Mandarin hotline calls and fill work orders (工单)."""
    configure_logging(log_level.upper())
