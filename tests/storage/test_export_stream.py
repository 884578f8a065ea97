"""Exports and large JSON history read the store in batches of columns, merged across
channels by time then channel: the same samples, in the same order, as the streaming query
of every column gives, whatever the batch size; CSV and Parquet carry each field of each."""

from __future__ import annotations

import csv
import io
import math
import random
from datetime import datetime

import pyarrow.parquet as pq
import pytest

from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.core.times import iso
from loggerd.storage.export import export_chunks
from loggerd.storage.model import StoredSample
from loggerd.storage.store import Store

from .conftest import T0_US


def _irregular(seed: int) -> list[Sample]:
    """Three channels at their own irregular times (some shared), logger records with a
    clock offset, host reads, missing values, derived values with uncertainty and method."""
    rng = random.Random(seed)
    out = []
    for c, step_us in (("t1", 1_000_000), ("t2", 700_001), ("t3", 2_500_000)):
        t = T0_US
        for i in range(300):
            t += rng.choice((step_us, step_us, 1, 1_000_000))
            missing = rng.random() < 0.1
            logger = c == "t1"
            out.append(
                Sample(
                    "c1",
                    c,
                    t,
                    math.nan if missing else rng.uniform(-80, 80),
                    math.nan if missing else rng.uniform(-80, 80),
                    Quality.MISSING if missing else Quality.GOOD,
                    TimeSource.LOGGER if logger else TimeSource.HOST,
                    sequence=1000 + i if logger else None,
                    calibration_version=2 if c == "t2" else None,
                    uncertainty=0.12 if c == "t3" else None,
                    method="hardy1998" if c == "t3" else None,
                    clock_offset_us=rng.randrange(-5_000_000, 5_000_000) if logger else None,
                )
            )
    return out


def _stored(store: Store) -> list[StoredSample]:
    # The previous reader: one query of every column, ORDER BY time then channel key.
    return list(store.history("c1", ["t1", "t2", "t3"], T0_US, T0_US + 10**12))


@pytest.mark.parametrize("rows_per_read", [1, 7, 10_000])
def test_batches_merge_channels_by_time_then_channel(store: Store, rows_per_read: int) -> None:
    store.write(_irregular(1))
    expected = _stored(store)
    batches = list(
        store.reader.sample_batches(
            "c1", ["t3", "t1", "t2"], T0_US, T0_US + 10**12, None, rows_per_read
        )
    )
    got = [
        row
        for b in batches
        for row in zip(
            b.channel_id.to_pylist(),
            b.ts_us.tolist(),
            b.value.to_pylist(),
            b.clock_offset_us.to_pylist(),
            strict=True,
        )
    ]
    assert got == [(s.channel_id, s.timestamp_us, s.value, s.clock_offset_us) for s in expected]
    assert len(batches) > 1 or rows_per_read == 10_000
    # The first N of them, and a range's ends: [start, end).
    start_us, end_us = expected[10].timestamp_us, expected[500].timestamp_us
    inside = [s for s in expected if start_us <= s.timestamp_us < end_us]
    cols = store.reader.sample_columns("c1", ["t1", "t2", "t3"], start_us, end_us, 100)
    assert list(zip(cols.channel_id.to_pylist(), cols.ts_us.tolist(), strict=True)) == [
        (s.channel_id, s.timestamp_us) for s in inside[:100]
    ]
    count = store.reader.count_at_most
    assert count("c1", ["t1", "t2", "t3"], start_us, end_us, 10**6) == len(inside)
    assert count("c1", ["t1", "t2", "t3"], start_us, end_us, 50) == 50


def _csv_value(text: str) -> float | None:
    return None if text == "" else float(text)


def test_streamed_csv_is_the_stored_samples_field_by_field(store: Store) -> None:
    store.write(_irregular(2))
    expected = _stored(store)
    units = {"t1": "degC", "t2": "degC", "t3": "degC"}
    chunks = list(
        export_chunks(
            store, "c1", ["t1", "t2", "t3"], T0_US, T0_US + 10**12, "csv", past_due={"t2": True}
        )
    )
    assert len(chunks) > 1
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert len(rows) == len(expected)
    for row, s in zip(rows, expected, strict=True):
        assert row == {
            "timestamp": iso(s.timestamp_us),
            "channel": s.channel_id,
            "value": row["value"],  # compared as numbers below
            "raw_value": row["raw_value"],
            "unit": units[s.channel_id],
            "quality": s.quality.value,
            "time_source": s.time_source.value,
            "sequence": "" if s.sequence is None else str(s.sequence),
            "logger_time": "" if s.logger_time_us is None else iso(s.logger_time_us),
            "calibration_version": "" if s.calibration_version is None else "2",
            "calibration_past_due": "true" if s.channel_id == "t2" else "",
            "uncertainty": row["uncertainty"],
            "method": s.method or "",
        }
        assert _csv_value(row["value"]) == s.value
        assert _csv_value(row["raw_value"]) == s.raw_value
        assert _csv_value(row["uncertainty"]) == s.uncertainty


def test_streamed_parquet_is_the_stored_samples_field_by_field(store: Store) -> None:
    store.write(_irregular(3))
    expected = _stored(store)
    body = b"".join(
        export_chunks(store, "c1", ["t1", "t2", "t3"], T0_US, T0_US + 10**12, "parquet")
    )
    rows = pq.read_table(io.BytesIO(body)).to_pylist()

    def us(t: datetime | None) -> int | None:
        return None if t is None else round(t.timestamp() * 1e6)

    assert [
        (
            us(r["timestamp"]),
            r["channel"],
            r["value"],
            r["raw_value"],
            r["quality"],
            r["time_source"],
            r["sequence"],
            us(r["logger_time"]),
            r["calibration_version"],
            r["calibration_past_due"],
            r["uncertainty"],
            r["method"],
        )
        for r in rows
    ] == [
        (
            s.timestamp_us,
            s.channel_id,
            s.value,
            s.raw_value,
            s.quality.value,
            s.time_source.value,
            s.sequence,
            s.logger_time_us,
            s.calibration_version,
            None,
            s.uncertainty,
            s.method,
        )
        for s in expected
    ]


def test_an_empty_range_is_a_csv_file_with_its_columns(store: Store) -> None:
    text = b"".join(export_chunks(store, "c1", ["t1"], T0_US, T0_US + 1, "csv")).decode()
    assert text == (
        "timestamp,channel,value,raw_value,unit,quality,time_source,sequence,logger_time,"
        "calibration_version,calibration_past_due,uncertainty,method\n"
    )


def test_reading_leaves_the_garbage_collector_as_it_found_it(store: Store) -> None:
    import gc

    store.write(_irregular(4))
    assert gc.isenabled()
    batches = store.reader.sample_batches("c1", ["t1", "t2"], T0_US, T0_US + 10**12, None, 5)
    next(batches)
    assert gc.isenabled()  # paused only while a batch is made, not while it is used
    batches.close()
    gc.disable()
    try:
        store.reader.sample_columns("c1", ["t1"], T0_US, T0_US + 10**12, 10)
        assert not gc.isenabled()  # not enabled by a read if it was off
    finally:
        gc.enable()
