"""Wire the stores and the case system from settings, once per process."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import Engine

from callscribe.casesystem import CaseSystem, EmbeddedCaseDesk
from callscribe.db import Base, make_engine
from callscribe.ledger import CallLedger
from callscribe.settings import Settings

__all__ = ["Runtime", "open_runtime"]


@dataclass
class Runtime:
    """The long-lived objects a command or a worker process needs."""

    settings: Settings
    engine: Engine
    ledger: CallLedger
    case_system: CaseSystem


def open_runtime(settings: Settings) -> Runtime:
    """Open the store (creating its tables) and choose the case system."""
    settings.data.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    Base.metadata.create_all(engine)
    return Runtime(
        settings=settings,
        engine=engine,
        ledger=CallLedger(engine),
        case_system=EmbeddedCaseDesk(engine),
    )


@functools.cache
def process_runtime(settings: Settings) -> Runtime:
    """The runtime shared by every job of one worker process."""
    return open_runtime(settings)
