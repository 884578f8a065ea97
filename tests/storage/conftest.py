"""Stores on both engines: a SQLite file in tmp_path, and a schema of its own per test in the
PostgreSQL server of the machine (which must be there: a test fails, never skips, without it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from loggerd.core.channels import Channel
from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.storage.store import Store, sqlite_url

PG_URL = os.environ.get("LOGGERD_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
T0_US = 1_780_000_000_000_000  # 2026-05-28T20:26:40Z, a whole minute
CHANNELS = [
    Channel("c1", f"t{i}", "logger-1", f"temperature_{i}", "temperature", "degC")
    for i in range(1, 4)
]

StoreFactory = Callable[[], Store]


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards, so parallel runs never meet."""
    name = f"loggerd_test_{uuid.uuid4().hex[:16]}"
    yield name
    engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        engine.dispose()


def _factory(url: str, schema: str | None) -> Iterator[StoreFactory]:
    made: list[Store] = []

    def make() -> Store:
        store = Store(url, schema=schema)
        made.append(store)
        return store

    first = make()
    first.upgrade()
    first.open({"c1": "Chamber 1"}, CHANNELS)
    try:
        yield make
    finally:
        for store in made:
            store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def stores(
    engine_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[StoreFactory]:
    """Makes Stores (separate engines) on one database holding chamber c1, channels t1..t3."""
    if engine_name == "sqlite":
        yield from _factory(sqlite_url(tmp_path), None)
    else:
        yield from _factory(PG_URL, request.getfixturevalue("pg_schema"))


@pytest.fixture
def store(stores: StoreFactory) -> Store:
    s = stores()
    s.refresh_catalog()
    return s


def sample(
    t_s: float,
    value: float,
    channel: str = "t1",
    quality: Quality = Quality.GOOD,
    sequence: int | None = None,
) -> Sample:
    v = value if quality is Quality.GOOD else float("nan")
    return Sample("c1", channel, T0_US + int(t_s * 1e6), v, v, quality, TimeSource.LOGGER, sequence)
