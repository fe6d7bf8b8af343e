"""Alembic environment: migrate the connection handed over by callscribe.db, or the store's URL.

``callscribe.db.upgrade_database`` passes an open connection (inside its transaction) in
``config.attributes["connection"]``. Run by hand (``alembic -x url=...``) it opens its own.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import callscribe.desk.models  # noqa: F401  (registers the desk's tables)
import callscribe.ledger  # noqa: F401  (registers the calls table)
from callscribe.db import Base, make_engine

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        from callscribe.settings import get_settings

        url = get_settings().database_url
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run them online")
run_migrations_online()
