"""Writes on both engines: idempotent, rollups exact after retries, backfill and concurrency."""

from __future__ import annotations

import math
import random
import threading
from dataclasses import replace

import pytest
from sqlalchemy import select

from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.storage.schema import TIERS, rollup_tables, samples
from loggerd.storage.store import Retention, Store

from .conftest import T0_US, StoreFactory, sample

Rollup = dict[tuple[int, int], tuple[int, float, float, float, int, float, int, float]]


def stored_rollups(store: Store) -> dict[str, Rollup]:
    out: dict[str, Rollup] = {}
    with store.engine.connect() as conn:
        for tier in TIERS:
            t = rollup_tables[tier.name]
            out[tier.name] = {
                (r[0], r[1]): tuple(r[2:])  # type: ignore[misc]
                for r in conn.execute(select(t).order_by(t.c.channel_key, t.c.bucket_us))
            }
    return out


def rollups_from_raw(store: Store) -> dict[str, Rollup]:
    """The rollups recomputed from scratch from the raw samples, the slow obvious way."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(samples.c.channel_key, samples.c.ts_us, samples.c.value)
            .where(samples.c.value.is_not(None), samples.c.quality == "good")
            .order_by(samples.c.channel_key, samples.c.ts_us)
        ).all()
    out: dict[str, Rollup] = {}
    for tier in TIERS:
        acc: dict[tuple[int, int], list[tuple[int, float]]] = {}
        for key, ts, v in rows:
            acc.setdefault((key, ts - ts % tier.width_us), []).append((ts, v))
        out[tier.name] = {
            k: (
                len(vs),
                sum(v for _, v in vs),
                min(v for _, v in vs),
                max(v for _, v in vs),
                vs[0][0],
                vs[0][1],
                vs[-1][0],
                vs[-1][1],
            )
            for k, vs in acc.items()
        }
    return out


def assert_rollups_exact(store: Store) -> None:
    got, want = stored_rollups(store), rollups_from_raw(store)
    for tier in TIERS:
        assert got[tier.name].keys() == want[tier.name].keys(), tier.name
        for k, w in want[tier.name].items():
            g = got[tier.name][k]
            assert g[0] == w[0] and g[2:] == w[2:], (tier.name, k, g, w)
            assert g[1] == pytest.approx(w[1], rel=1e-12), (tier.name, k)


def test_rewriting_a_batch_never_duplicates_nor_double_counts(store: Store) -> None:
    batch = [sample(i * 7.5, 20 + math.sin(i), f"t{1 + i % 3}") for i in range(2000)]
    first = store.write(batch)
    before = stored_rollups(store)
    again = store.write(batch)  # a retry after an ambiguous failure
    assert (first.inserted, first.duplicates) == (2000, 0)
    assert (again.inserted, again.duplicates) == (0, 2000)
    assert store.count() == 2000
    assert stored_rollups(store) == before
    assert_rollups_exact(store)


def test_a_half_new_batch_stores_and_counts_only_the_new_half(store: Store) -> None:
    store.write([sample(i, float(i)) for i in range(0, 100)])
    result = store.write([sample(i, float(i)) for i in range(50, 150)])
    assert (result.inserted, result.duplicates) == (50, 50)
    assert store.count() == 150
    assert_rollups_exact(store)


def test_the_same_logger_record_twice_is_one_sample(store: Store) -> None:
    store.write([sample(0, 1.0, sequence=41), sample(1, 2.0, sequence=42)])
    # The logger's memory read again, stamped a little differently: same records.
    result = store.write(
        [sample(0.5, 1.0, sequence=41), sample(1.5, 2.0, sequence=42), sample(2, 3.0, sequence=43)]
    )
    assert (result.inserted, result.duplicates) == (1, 2)
    assert [s.sequence for s in store.history("c1", ["t1"], 0, 2**62)] == [41, 42, 43]
    # Repeats inside one batch too.
    result = store.write([sample(10, 5.0, sequence=50), sample(11, 5.0, sequence=50)])
    assert (result.inserted, result.duplicates) == (1, 1)
    assert_rollups_exact(store)


def test_missing_is_stored_as_null_and_left_out_of_rollups(store: Store) -> None:
    store.write([sample(0, 5.0), sample(1, 0.0, quality=Quality.MISSING), sample(2, 7.0)])
    rows = list(store.history("c1", ["t1"], 0, 2**62))
    assert [r.value for r in rows] == [5.0, None, 7.0]
    assert rows[1].quality is Quality.MISSING and rows[1].raw_value is None
    (bucket,) = stored_rollups(store)["1m"].values()
    assert bucket[:4] == (2, 12.0, 5.0, 7.0)  # count, sum, min, max of the good values


def test_backfill_into_the_past_repairs_the_rollups(store: Store) -> None:
    # Live samples every 10 s for two hours, then the logger's memory of a gap in the middle
    # and of the hour before, at 1 s, lands later (out of order, in one burst).
    live = [sample(t, 20.0) for t in range(3600, 3 * 3600, 10) if not 5000 <= t < 6000]
    store.write(live)
    before = stored_rollups(store)
    backfill = [sample(t, 20.0 + (t % 7) / 10) for t in range(0, 3600)]
    backfill += [sample(t + 0.5, -5.0 if t == 5432 else 20.0) for t in range(5000, 6000)]
    random.Random(1).shuffle(backfill)
    for i in range(0, len(backfill), 700):
        store.write(backfill[i : i + 700])
    after = stored_rollups(store)
    assert after != before
    assert_rollups_exact(store)
    spike_us = T0_US + 5432_500_000
    hour = after["1h"][(store.channel("c1", "t1").key, spike_us - spike_us % 3_600_000_000)]
    assert hour[2] == -5.0  # the backfilled spike reached its hour's minimum


def test_expired_samples_are_not_stored_and_prune_applies_retention(stores: StoreFactory) -> None:
    store = stores()
    day_us = 86_400_000_000
    now_us = T0_US + 30 * day_us
    # 30 days of one sample an hour.
    store.write([sample(h * 3600, float(h)) for h in range(30 * 24)])
    store.retention = Retention(raw_s=7 * 86400, rollup_s={"1m": 14 * 86400})
    deleted = store.prune(now_us)
    assert deleted["samples"] == 23 * 24
    assert deleted["rollup_1m"] == 16 * 24
    first = next(iter(store.history("c1", ["t1"], 0, 2**62)))
    assert first.timestamp_us == now_us - 7 * day_us
    assert len(stored_rollups(store)["1h"]) == 30 * 24  # kept for ever

    retained = Store(store.engine.url.render_as_string(hide_password=False), schema=store.schema)
    try:
        retained.retention = Retention(raw_s=3600)
        retained.refresh_catalog()
        old = sample((now_us - T0_US) / 1e6, 1.0)  # "now" is in the past of the real clock
        assert retained.write([old]).expired == 1
    finally:
        retained.close()


def test_concurrent_writers_overlapping_lose_nothing_and_duplicate_nothing(
    stores: StoreFactory,
) -> None:
    """Four writers, each with its own engine, write overlapping samples at once."""
    everything = [
        sample(t, math.cos(t / 100) + (3 if t == 1234 else 0), f"t{1 + t % 3}", sequence=t)
        for t in range(6000)
    ]
    writers = [stores() for _ in range(4)]
    for w in writers:
        w.refresh_catalog()
    start = threading.Barrier(len(writers))
    errors: list[BaseException] = []

    def run(i: int, store: Store) -> None:
        # Each writer takes half of everything, overlapping the others, in its own order.
        mine = everything[i * 1000 : i * 1000 + 3000]
        random.Random(i).shuffle(mine)
        try:
            start.wait(timeout=30)
            for j in range(0, len(mine), 250):
                store.write(mine[j : j + 250])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    check = writers[0]
    assert check.count() == 6000
    got = list(check.history("c1", ["t1", "t2", "t3"], 0, 2**62))
    assert sorted(s.sequence or 0 for s in got) == list(range(6000))
    assert_rollups_exact(check)


def test_every_field_is_kept_whether_a_column_is_full_empty_or_mixed(store: Store) -> None:
    """A batch's columns that hold nothing go to the store as NULL, those that hold something
    go as they are: each row keeps its own fields, NaN stored as NULL, qualities as words."""

    def full(i: int, **changes: object) -> Sample:
        fields: dict[str, object] = {"clock_offset_us": -7, **changes}
        return replace(sample(i, 20.0 + i, sequence=100 + i), **fields)

    plain = [full(0), full(1, value=math.nan, quality=Quality.SENSOR_FAULT)]
    mixed = [
        full(2, calibration_version=3, uncertainty=0.05, method="sonntag1990"),
        full(3),
        full(4, quality=Quality.SUPERSATURATED, time_source=TimeSource.HOST, sequence=None),
        full(5, clock_offset_us=None, uncertainty=math.nan),
    ]
    store.write(plain)
    store.write(mixed)
    with store.engine.connect() as conn:
        rows = conn.execute(select(samples).order_by(samples.c.ts_us)).all()
    key = store.channel("c1", "t1").key
    assert [tuple(r) for r in rows] == [
        (key, T0_US, 20.0, 20.0, "good", "logger", 100, None, None, None, -7),
        (key, T0_US + 1_000_000, None, 21.0, "sensor_fault", "logger", 101, None, None, None, -7),
        (key, T0_US + 2_000_000, 22.0, 22.0, "good", "logger", 102, 3, 0.05, "sonntag1990", -7),
        (key, T0_US + 3_000_000, 23.0, 23.0, "good", "logger", 103, None, None, None, -7),
        (key, T0_US + 4_000_000, 24.0, 24.0, "supersaturated", "host", None, None, None, None, -7),
        (key, T0_US + 5_000_000, 25.0, 25.0, "good", "logger", 105, None, None, None, None),
    ]
    (bucket,) = stored_rollups(store)["1m"].values()
    # Valued qualities count (supersaturated too), the fault's NaN does not.
    assert bucket[:4] == (5, 20.0 + 22 + 23 + 24 + 25, 20.0, 25.0)
