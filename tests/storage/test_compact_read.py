"""SQLite's compact read gives what a read of rows gives, value for value (bits, nulls, words),
or declines (None) and the reader reads rows; never something else."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loggerd.storage.compact_read import COLUMNS, HEADROOM, read_compact
from loggerd.storage.reader import ROW_SCHEMA

# The samples table's columns as the store makes them (a WITHOUT ROWID table keyed on
# (channel, time)), in an in-memory database of this test's own.
TABLE = (
    "CREATE TABLE samples (channel_key INTEGER NOT NULL, ts_us BIGINT NOT NULL, value FLOAT, "
    "raw_value FLOAT, quality VARCHAR(16) NOT NULL, time_source VARCHAR(8) NOT NULL, "
    "sequence BIGINT, calibration_version INTEGER, uncertainty FLOAT, method VARCHAR(32), "
    "clock_offset_us BIGINT, PRIMARY KEY (channel_key, ts_us)) WITHOUT ROWID"
)
ROWS_SQL = (
    f"SELECT {', '.join(COLUMNS)} FROM samples WHERE channel_key = ? AND ts_us > ? "
    "AND ts_us < ? ORDER BY ts_us LIMIT ?"
)


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute(TABLE)
    yield conn
    conn.close()


def _stored(db: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    db.execute("DELETE FROM samples")
    marks = ", ".join("?" * (len(COLUMNS) + 1))
    db.executemany(f"INSERT INTO samples VALUES ({marks})", [(1, *r) for r in rows])


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.copysign(1, a) == math.copysign(1, b) and a == b  # SQLite holds no NaN
    return bool(a == b) and type(a) is type(b)


def _check(db: sqlite3.Connection, after: int, end: int, limit: int) -> bool:
    """Compares a compact read with the rows; True when it gave them (not declined)."""
    expected = db.execute(ROWS_SQL, (1, after, end, limit)).fetchall()
    batch = read_compact(db.cursor(), 1, after, end, limit, ROW_SCHEMA)
    if batch is None:
        return False
    assert batch.schema == ROW_SCHEMA
    got = list(zip(*(batch.column(i).to_pylist() for i in range(len(COLUMNS))), strict=True))
    # A read may give more rows than asked only if they were written during it.
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert all(_same(x, y) for x, y in zip(g, e, strict=True)), (g, e)
    return True


finite = st.floats(allow_nan=False, allow_infinity=False)
# Values near each other (a chamber's readings), tiny ones, zero, wild ones, missing ones.
reading = st.floats(-80, 80)
value = st.one_of(
    reading,
    reading,
    reading,
    st.floats(-1e-3, 1e-3),
    st.floats(-1e12, 1e12),
    st.sampled_from([0.0, 5e-324, -2.2250738585072014e-308, 1e300, -1.7976931348623157e308]),
    st.sampled_from([math.inf, -math.inf]),
    finite,
    st.none(),
)
# What a chamber's readings change to, mostly.
near_zero = st.one_of(st.floats(1e-9, 1e-3), st.floats(-1e-3, -1e-9), st.just(0.0))
tame = st.one_of(reading, reading, near_zero, st.none())
word = st.sampled_from(["good", "suspect", "missing", "x,y", 'q"\\', "é", ""])
small_int = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.integers(0, 5))


@st.composite
def samples(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Rows of one channel: mostly as the first row is (quality, time source, method, ...), with
    changes of each kind here and there."""
    n = draw(st.integers(1, 40))
    times = sorted(draw(st.sets(st.integers(-(2**40), 2**40), min_size=n, max_size=n)))
    base = [
        draw(st.one_of(tame, value)),
        draw(word),
        draw(st.sampled_from(["logger", "host"])),
        draw(st.one_of(st.none(), word)),
        draw(small_int),
        draw(st.one_of(st.none(), st.floats(0, 1))),
        draw(small_int),
    ]
    seq0 = draw(st.one_of(st.none(), st.integers(-(2**40), 2**40)))
    out = []
    for i, t in enumerate(times):
        floats = value if draw(st.integers(0, 299)) == 0 else tame
        v, q, src, method, cal, unc, offset = (
            draw(kind) if draw(st.integers(0, 9)) == 0 else b
            for kind, b in zip(
                (floats, word, st.just("host"), st.none(), small_int, floats, small_int),
                base,
                strict=True,
            )
        )
        if isinstance(v, float) and draw(st.booleans()):
            v = v * (1 + i / 7)  # drifting away from the first
        raw = v if draw(st.integers(0, 3)) else draw(floats)
        seq = None if seq0 is None or draw(st.integers(0, 19)) == 0 else seq0 + i
        cal = None if cal is None else max(-(2**31), min(2**31 - 1, cal))
        out.append((t, v, raw, q, src, seq, cal, unc, method, offset))
    return out


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=samples(), cut=st.integers(0, 45), limit=st.integers(1, 50))
def test_a_compact_read_is_the_rows_or_nothing(
    db: sqlite3.Connection, rows: list[tuple[Any, ...]], cut: int, limit: int
) -> None:
    _stored(db, rows)
    after = rows[min(cut, len(rows) - 1)][0] - 1 if cut < len(rows) else -(2**41)
    _check(db, after, 2**41, limit)


def test_readings_of_a_chamber_are_read_compactly(db: sqlite3.Connection) -> None:
    """Calibrated readings that cross zero, ramp far past the first, with a sample flagged
    now and then and a missing one: all given, none declined."""
    rows = []
    for i in range(2000):
        v = -1.5 + 0.0731 * i + math.sin(i / 9) / 3  # from -1.5 through 0 up to ~145
        missing = i == 700
        rows.append(
            (
                1_780_000_000_000_000 + i * 1_000_000,
                None if missing else v,
                None if missing else v / 1.0007 + 0.013,
                "missing" if missing else ("suspect" if i % 97 == 0 else "good"),
                "logger",
                10_000 + i,
                3,
                None,
                None,
                -1234 if i < 1000 else 5678,
            )
        )
    _stored(db, rows)
    assert rows[0][1] is not None and abs(rows[-1][1]) > 2**HEADROOM * abs(rows[0][1])
    assert _check(db, 0, 2**62, 10_000)
    assert _check(db, rows[500][0], 2**62, 300)  # a read from within, cut short
    assert _check(db, 0, 2**62, 1)


def test_values_it_cannot_scale_are_declined_not_changed(db: sqlite3.Connection) -> None:
    _stored(db, [(1, 1.0, 1.0, "good", "host", None, None, None, None, None)])
    assert _check(db, 0, 10, 5)
    _stored(db, [(1, 1.0, 1.0, "good", "host", None, None, None, None, None)])
    db.execute(
        "INSERT INTO samples VALUES (1, 2, ?, 1.0, 'good', 'host', NULL, NULL, NULL, NULL, NULL)",
        (math.inf,),
    )
    assert not _check(db, 0, 10, 5)  # infinity: no power of two scales it
    db.execute("UPDATE samples SET value = 5e-324 WHERE ts_us = 2")
    assert not _check(db, 0, 10, 5)  # a subnormal next to 1.0: below the record's scale


def test_an_empty_range_is_an_empty_batch(db: sqlite3.Connection) -> None:
    batch = read_compact(db.cursor(), 1, 0, 10, 5, ROW_SCHEMA)
    assert batch is not None and batch.num_rows == 0 and batch.schema == ROW_SCHEMA
