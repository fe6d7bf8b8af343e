"""Wire the stores and the case system from settings, once per process."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import Engine

from callscribe.db import make_engine, upgrade_database
from callscribe.desk.store import EmbeddedCaseDesk
from callscribe.ledger import CallLedger
from callscribe.settings import Settings
from callscribe.writeback.contract import CaseSystem

__all__ = ["Runtime", "open_runtime", "process_runtime"]


@dataclass
class Runtime:
    """The long-lived objects a command or a worker process needs."""

    settings: Settings
    engine: Engine
    ledger: CallLedger
    case_system: CaseSystem


def open_runtime(settings: Settings) -> Runtime:
    """Open the store (running its pending migrations) and choose the case system."""
    settings.data.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    return Runtime(
        settings=settings,
        engine=engine,
        ledger=CallLedger(engine),
        case_system=_case_system(settings, engine),
    )


def _case_system(settings: Settings, engine: Engine) -> CaseSystem:
    """The HTTP client when CALLSCRIBE_CASE_SYSTEM_URL is set, else the embedded desk's store."""
    if settings.case_system_url:
        from callscribe.writeback.http_client import HttpCaseSystem

        return HttpCaseSystem.from_settings(settings)
    return EmbeddedCaseDesk(engine)


@functools.cache
def process_runtime(settings: Settings) -> Runtime:
    """The runtime shared by every job of one worker process."""
    return open_runtime(settings)
