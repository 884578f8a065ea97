"""The schema's revision: upgrading a database with the Alembic scripts in migrations/, and
checking that a database is at the revision this loggerd's code needs."""

from __future__ import annotations

from typing import Any

from loggerd.storage.database import Database
from loggerd.storage.model import SchemaError

__all__ = ["check_schema", "head_revision", "revision", "upgrade"]


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "loggerd.storage:migrations")
    return config


def head_revision() -> str:
    """The newest revision of the scripts: the one this loggerd's code is written for."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def upgrade(db: Database) -> str:
    """Bring the database to the newest schema (Alembic); returns the revision."""
    from alembic import command

    with db.failing_as(f"cannot upgrade the store at {db.url}"), db.engine.begin() as conn:
        if not db.is_sqlite:
            # Two loggerds upgrading one database at once: the second waits.
            conn.exec_driver_sql(
                "SELECT pg_advisory_xact_lock(%(ns)s, 0)", {"ns": db.lock_namespace}
            )
            if db.schema is not None:
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"')
        config = _alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    return head_revision()


def revision(db: Database) -> str | None:
    """The database's schema revision; None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with db.reading(), db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_schema(db: Database, current: str | None) -> None:
    """Refuse a database whose revision (`current`) is not the code's: a daemon must not write
    into a schema it does not know (PostgreSQL is upgraded by `loggerd db upgrade`)."""
    head = head_revision()
    if current != head:
        raise SchemaError(
            f"the store at {db.url} has schema revision {current or 'none'}, this "
            f"loggerd needs {head}: run `loggerd db upgrade`"
        )
