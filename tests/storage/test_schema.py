"""The Alembic migrations build exactly the schema the code uses, on both engines."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from loggerd.cli.main import main
from loggerd.storage.schema import metadata
from loggerd.storage.store import SchemaError, Store, head_revision, sqlite_url

from .conftest import CHANNELS, PG_URL, StoreFactory


def test_migrations_build_the_schema_the_code_uses(stores: StoreFactory) -> None:
    store = stores()
    assert store.revision() == head_revision()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert store.upgrade() == head_revision()  # a second upgrade changes nothing


def test_postgres_is_not_migrated_behind_the_operators_back(pg_schema: str) -> None:
    store = Store(PG_URL, schema=pg_schema)
    try:
        with pytest.raises(SchemaError, match="run `loggerd db upgrade`"):
            store.open({"c1": None}, CHANNELS)
    finally:
        store.close()


def test_db_upgrade_and_status_commands(
    tmp_path: Path, pg_schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(tmp_path)
    assert main(["db", "status", "--url", url]) == 0
    assert "revision none (run `loggerd db upgrade`)" in capsys.readouterr().out
    assert main(["db", "upgrade", "--url", url]) == 0
    assert f"at revision {head_revision()} (newest)" in capsys.readouterr().out
    assert main(["db", "upgrade", "--url", PG_URL, "--schema", pg_schema]) == 0
    assert main(["db", "status", "--url", PG_URL, "--schema", pg_schema]) == 0
    assert "(newest)" in capsys.readouterr().out.splitlines()[-1]


def test_a_loggerd_0_1_database_is_adopted(tmp_path: Path) -> None:
    """Tables made before migrations existed: kept, given the new columns, rolled up."""
    db = sqlite3.connect(tmp_path / "loggerd.db")
    db.executescript(
        """
        CREATE TABLE chambers (id VARCHAR(64) PRIMARY KEY, name VARCHAR(200));
        CREATE TABLE channels (key INTEGER PRIMARY KEY, chamber_id VARCHAR(64) NOT NULL
            REFERENCES chambers (id), channel_id VARCHAR(64) NOT NULL, device_id VARCHAR(64)
            NOT NULL, point VARCHAR(64) NOT NULL, quantity VARCHAR(64) NOT NULL, unit
            VARCHAR(32) NOT NULL, UNIQUE (chamber_id, channel_id));
        CREATE TABLE samples (channel_key INTEGER NOT NULL REFERENCES channels (key), ts_us
            BIGINT NOT NULL, value FLOAT, raw_value FLOAT, quality VARCHAR(16) NOT NULL,
            time_source VARCHAR(8) NOT NULL, sequence BIGINT, PRIMARY KEY (channel_key, ts_us))
            WITHOUT ROWID;
        INSERT INTO chambers VALUES ('c1', 'Chamber 1');
        INSERT INTO channels VALUES (7, 'c1', 't1', 'logger-1', 'temperature_1',
            'temperature', 'degC');
        INSERT INTO samples VALUES (7, 1780000000000000, 1.5, 1.5, 'good', 'host', NULL),
            (7, 1780000001000000, NULL, NULL, 'missing', 'host', NULL),
            (7, 1780000002000000, 2.5, 2.5, 'good', 'host', NULL);
        """
    )
    db.commit()
    db.close()
    store = Store(sqlite_url(tmp_path))
    try:
        store.open({"c1": "Chamber 1"}, CHANNELS)
        assert store.channel("c1", "t1").key == 7
        assert [r.value for r in store.history("c1", ["t1"], 0, 2**62)] == [1.5, None, 2.5]
        with store.engine.connect() as conn:
            (row,) = conn.exec_driver_sql(
                "SELECT sample_count, value_sum, value_min, value_max, first_value, last_value "
                "FROM rollup_1h"
            ).all()
        assert tuple(row) == (2, 4.0, 1.5, 2.5, 1.5, 2.5)
    finally:
        store.close()


@pytest.mark.parametrize(("synchronous", "level"), [("FULL", 2), ("NORMAL", 1)])
def test_sqlite_runs_in_wal_with_full_sync_unless_normal_is_chosen(
    tmp_path: Path, synchronous: str, level: int
) -> None:
    store = Store(sqlite_url(tmp_path), synchronous)
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == level
    finally:
        store.close()
