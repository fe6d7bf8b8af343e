"""`callscribe doctor`: is this host ready to run callscribe? One line per check.

Each line reads ``ok|warn|FAIL name: detail``; the command exits 1 when any check FAILs. It
reads the same settings as every other command and changes nothing: it starts no Redis, runs
no migration, joins no model and leaves no file behind. Places are shown without passwords,
tokens or query strings.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from callscribe.cli._common import main, settings_or_exit
from callscribe.cli.doctor_files import (
    check_data_dir,
    check_drop_folder,
    check_free_disk,
    drop_root,
)
from callscribe.cli.doctor_findings import FAIL, Finding
from callscribe.cli.doctor_services import (
    check_audio,
    check_case_system,
    check_model,
    check_redis,
    check_store,
)
from callscribe.errors import error_line
from callscribe.settings import Settings

__all__ = ["Finding", "run_checks"]


@main.command()
@click.argument("drop_folder", required=False, type=click.Path(path_type=Path, file_okay=False))
def doctor(drop_folder: Path | None) -> None:
    """Check Redis, the store, the model, the audio decoders, the disk and a drop folder.

    DROP_FOLDER (optional) is the folder `callscribe watch` is given: its inbox, processing,
    done and failed folders must exist or be creatable, be writable, and lie on one filesystem.
    Prints one line per check, `ok|warn|FAIL name: detail`; exits 1 when any check FAILs.
    """
    settings = settings_or_exit()
    failed = False
    for finding in run_checks(settings, drop_folder):
        click.echo(finding.line())
        failed = failed or finding.level == FAIL
    if failed:
        sys.exit(1)


def run_checks(settings: Settings, drop_folder: Path | None = None) -> Iterator[Finding]:
    """Every check, in order; a check that breaks unexpectedly is reported as a FAIL."""
    checks: list[tuple[str, Callable[[], list[Finding]]]] = [
        ("redis", lambda: check_redis(settings)),
        ("store", lambda: check_store(settings)),
        ("model", lambda: check_model(settings)),
        ("audio", check_audio),
        ("case-system", lambda: check_case_system(settings)),
        ("data", lambda: check_data_dir(settings.data)),
    ]
    if drop_folder is not None:
        checks.append(("drop-folder", lambda: check_drop_folder(drop_folder)))
    for name, check in checks:
        try:
            yield from check()
        except Exception as err:  # noqa: BLE001  (the doctor reports every failure, then goes on)
            yield Finding(FAIL, name, f"check broke: {type(err).__name__}: {error_line(err)}")
    places = [("disk-data", settings.data)]
    if drop_folder is not None:
        places.append(("disk-drop-folder", drop_root(drop_folder)))
    for name, place in places:
        yield check_free_disk(name, place)
