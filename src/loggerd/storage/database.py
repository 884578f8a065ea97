"""The store's database: one engine (SQLite or PostgreSQL) and the facts its parts share.

Each part of the store (catalog, sample writer, event log, reader, retention, re-correction)
holds this one object and reads `engine` and `retention` from it at every call, so replacing
either on the store (tests point the engine at a dead file, or shorten the retention) reaches
every part at once.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from loggerd.storage.model import Retention, StoreError

__all__ = ["Database", "said"]

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def said(exc: BaseException) -> str:
    """A database error in one line: the database's own words (not SQLAlchemy's wrapping of
    them, which adds the statement and a link to its documentation), and, when the database
    could not be reached, what to check."""
    orig = getattr(exc, "orig", None)
    own = exc if orig is None else orig
    text = "; ".join(line.strip() for line in str(own).splitlines() if line.strip())
    if isinstance(exc, OperationalError) and orig is not None:
        if "sqlite" in type(orig).__module__:
            text += "; check that the SQLite file's folder exists and may be written"
        else:
            text += (
                "; check the URL's host, port, user and database, and that the server is "
                "running and reachable"
            )
    return text


class Database:
    """An engine for a `sqlite:///` or `postgresql://` URL, checked and set up for the store."""

    def __init__(
        self,
        url: str,
        synchronous: str = "FULL",
        busy_timeout_s: float = 30.0,
        *,
        schema: str | None = None,
        retention: Retention | None = None,
    ) -> None:
        parsed = make_url(url)
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, not psycopg2
        self.engine_name = parsed.get_backend_name()
        if self.engine_name not in ("sqlite", "postgresql"):
            raise StoreError(f"unsupported store URL {url!r}: use sqlite:/// or postgresql://")
        self.is_sqlite = self.engine_name == "sqlite"
        if schema is not None and (self.is_sqlite or not _SCHEMA_NAME.match(schema)):
            raise StoreError(
                f"schema {schema!r}: only for PostgreSQL, lower-case letters, digits and _"
            )
        if synchronous not in ("FULL", "NORMAL"):
            raise StoreError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        self.schema = schema
        self.retention = retention or Retention()
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            # How long a write waits for another process's lock before it counts as failed.
            kwargs["connect_args"] = {"timeout": busy_timeout_s, "check_same_thread": False}
        elif schema is not None:
            kwargs["connect_args"] = {"options": f"-c search_path={schema}"}
        self.engine: Engine = create_engine(parsed, **kwargs)
        self.url = self.engine.url.render_as_string(hide_password=True)
        if self.is_sqlite:
            self._sqlite_pragmas(synchronous)
        # Advisory locks are database-wide: keep each schema's channels apart.
        self.lock_namespace = zlib.crc32((schema or "public").encode()) - 2**31

    def _sqlite_pragmas(self, synchronous: str) -> None:
        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    @property
    def insert(self) -> Any:
        """The dialect's INSERT, the one with ON CONFLICT (both engines spell it alike)."""
        return sqlite.insert if self.is_sqlite else postgresql.insert

    @contextmanager
    def failing_as(self, what: str) -> Iterator[None]:
        """Turn a database error into a StoreError that says `what` failed and why."""
        try:
            yield
        except SQLAlchemyError as exc:
            raise StoreError(f"{what}: {said(exc)}") from exc

    def reading(self) -> AbstractContextManager[None]:
        """failing_as() for a read, the commonest case."""
        return self.failing_as(f"cannot read the store at {self.url}")
