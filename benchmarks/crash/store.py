"""The store under test: an SQLite file in the work folder, or a fresh schema on the PostgreSQL
server; opened read-only for the comparison, held locked as a backup would, PostgreSQL
restarted."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine

from loggerd.storage.store import Store

PG_URL = os.environ.get("LOGGERD_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
# The same server through SQLAlchemy's psycopg (3) dialect, for the harness's own connections.
PG_ENGINE_URL = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)


@dataclass
class StoreTarget:
    engine_name: str  # sqlite | postgresql
    data_dir: Path
    schema: str | None = None

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "loggerd.db"

    def config_lines(self) -> str:
        if self.engine_name == "sqlite":
            return ""
        return f'url = "{PG_URL}"\nschema = "{self.schema}"\n'

    def create(self) -> None:
        """PostgreSQL: a fresh schema at the newest revision (SQLite: loggerd makes its file)."""
        if self.engine_name == "postgresql":
            store = Store(PG_URL, schema=self.schema)
            try:
                store.upgrade()
            finally:
                store.close()

    def drop(self) -> None:
        if self.engine_name == "postgresql":
            engine = create_engine(PG_ENGINE_URL)
            try:
                with engine.begin() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            finally:
                engine.dispose()

    def read_only_engine(self) -> Engine:
        if self.engine_name == "sqlite":
            return create_engine(
                f"sqlite:///file:{self.sqlite_path}?mode=ro&uri=true",
                connect_args={"check_same_thread": False},
            )
        return create_engine(
            PG_ENGINE_URL,
            connect_args={
                "options": f"-c search_path={self.schema} -c default_transaction_read_only=on"
            },
        )

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the store's write lock, as another program (a backup, an export) might."""
        if self.engine_name == "sqlite":
            conn = sqlite3.connect(self.sqlite_path, timeout=30, isolation_level=None)
            try:
                conn.execute("BEGIN EXCLUSIVE")
                yield
            finally:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                conn.close()
            return
        engine = create_engine(
            PG_ENGINE_URL,
            connect_args={"options": f"-c search_path={self.schema}"},
        )
        try:
            with engine.connect() as pg:
                pg.exec_driver_sql("LOCK TABLE samples IN EXCLUSIVE MODE")
                try:
                    yield
                finally:
                    pg.rollback()
        finally:
            engine.dispose()


def restart_postgres() -> float:
    """`pg_ctlcluster VERSION main restart`; returns how long it took."""
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    started = time.monotonic()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return time.monotonic() - started
