"""Alembic environment: runs on the connection loggerd hands over (see loggerd.store.upgrade)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from loggerd.storage.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "run loggerd's migrations with `loggerd db upgrade`, not the alembic command"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
