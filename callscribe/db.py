"""SQLAlchemy engine, the declarative base, and schema migrations (Alembic, run in-process).

Every table callscribe owns (the ledger's ``calls``, the case desk's ``cases`` and its audit
trail, users and tokens) is created and changed only by the migrations in
``callscribe/migrations/versions``; :func:`upgrade_database` brings a store to the newest one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.orm import DeclarativeBase

__all__ = [
    "BASELINE_REVISION",
    "Base",
    "iso_utc",
    "make_engine",
    "upgrade_database",
    "utcnow",
]

log = logging.getLogger(__name__)

BASELINE_REVISION = "0001"
"""The schema the walking skeleton made with ``create_all``; such stores are stamped with it."""

_PG_MIGRATION_LOCK = 0x63616C6C
"""Key of the PostgreSQL advisory lock that serialises concurrent upgrades ("call")."""


class Base(DeclarativeBase):
    """Declarative base of every table callscribe owns."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive one is taken as UTC already (SQLite hands those back).

    Bounds are converted before they reach a query because SQLite stores the wall-clock time
    without its offset, so an aware bound in another zone would compare hours off.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso_utc(value: datetime) -> str:
    """ISO 8601 with its offset; SQLite hands back naive datetimes, which we store in UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def make_engine(url: str) -> Engine:
    """Create an engine.

    SQLite files get WAL mode, a busy timeout, and ``BEGIN IMMEDIATE`` transactions: a
    transaction that reads and then writes would otherwise fail at once with "database is
    locked" when another process wrote in between, instead of waiting its turn.
    """
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade_database(engine: Engine) -> None:
    """Run every pending migration, in one transaction, safely from several processes at once.

    Concurrent upgrades queue behind SQLite's write lock or a PostgreSQL advisory lock.

    A store made by the walking skeleton (tables but no ``alembic_version``) is first stamped
    with :data:`BASELINE_REVISION`, so its data is kept and only the later migrations run.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "callscribe:migrations")
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        config.attributes["connection"] = conn
        tables = set(inspect(conn).get_table_names())
        if "alembic_version" not in tables and "calls" in tables:
            log.warning("store has tables but no migration history; stamping %s", BASELINE_REVISION)
            command.stamp(config, BASELINE_REVISION)
        command.upgrade(config, "head")
