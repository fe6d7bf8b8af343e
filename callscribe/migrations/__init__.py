"""Alembic migrations of the store, run in-process by :func:`callscribe.db.upgrade_database`."""
