"""Downsampled history through the HTTP API, on both engines: exact buckets, spikes kept."""

from __future__ import annotations

import io
import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest

from loggerd.api.app import create_app
from loggerd.core.channels import Channel
from loggerd.core.samples import Quality
from loggerd.service.config import parse_config
from loggerd.service.daemon import Daemon
from loggerd.storage.downsample import plan
from loggerd.storage.store import Store

from .conftest import PG_URL, T0_US, sample

DAY_S = 86400


def iso_s(t_s: float) -> str:
    return datetime.fromtimestamp(T0_US / 1e6 + t_s, UTC).isoformat().replace("+00:00", "Z")


def daemon_config(tmp_path: Path, store_toml: str) -> str:
    channels = "".join(
        f'[[chamber.device.channel]]\nid = "t{i}"\npoint = "temperature_{i}"\n' for i in (1, 2, 3)
    )
    return (
        f'data_dir = "{tmp_path.as_posix()}"\n[store]\n{store_toml}\n'
        '[[chamber]]\nid = "c1"\n\n[[chamber.device]]\nid = "logger-1"\ndriver = "simulated"\n'
        f"{channels}"
    )


@pytest.fixture
def daemon(engine_name: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Daemon]:
    """A daemon whose store is open (acquisition not started): the API over a database."""
    if engine_name == "sqlite":
        store_toml = ""
    else:
        schema = request.getfixturevalue("pg_schema")
        store_toml = f'url = "{PG_URL}"\nschema = "{schema}"\n'
    d = Daemon(parse_config(daemon_config(tmp_path, store_toml), "test.toml"))
    d.store.upgrade()
    d.store.open(
        {"c1": None},
        [
            Channel("c1", f"t{i}", "logger-1", f"temperature_{i}", "temperature", "degC")
            for i in (1, 2, 3)
        ],
    )
    try:
        yield d
    finally:
        d.store.close()


@pytest.fixture
async def http(daemon: Daemon) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(daemon.ports()))
    async with httpx.AsyncClient(transport=transport, base_url="http://loggerd") as client:
        yield client


def write(store: Store, samples: list) -> None:  # type: ignore[type-arg]
    for i in range(0, len(samples), 5000):
        store.write(samples[i : i + 5000])


def test_plan_snaps_buckets_to_the_coarsest_adequate_rollup() -> None:
    tier, width, origin = plan(T0_US, T0_US + 30 * DAY_S * 10**6, 2000)
    assert tier is not None and tier.name == "10m"
    assert width % tier.width_us == 0 and origin % tier.width_us == 0
    assert (T0_US + 30 * DAY_S * 10**6 - origin) / width <= 2000
    tier, width, _ = plan(T0_US, T0_US + 3600 * 10**6, 100)
    assert tier is None and width == 36 * 10**6  # finer than any rollup: raw buckets


async def test_a_single_sample_spike_survives_downsampling(
    daemon: Daemon, http: httpx.AsyncClient
) -> None:
    spike_t = 4 * DAY_S + 1234 * 10
    data = [sample(t, 20.0 + (t % 600) / 6000) for t in range(0, 10 * DAY_S, 10)]
    data[spike_t // 10] = sample(spike_t, 95.0)
    write(daemon.store, data)
    r = await http.get(
        "/api/v1/chambers/c1/history",
        params={"channel": "t1", "start": iso_s(0), "end": iso_s(10 * DAY_S), "max_points": 500},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["series"]["t1"]["source"] == "10m"
    points = body["points"]
    assert 250 <= len(points) <= 500
    peak = max(points, key=lambda p: p["max"])
    assert peak["max"] == 95.0 and peak["value"] < 25  # the mean hides it, the max does not
    assert sum(p["count"] for p in points) == len(data)
    assert min(p["min"] for p in points) == 20.0


async def test_buckets_are_exact_whatever_the_range(
    daemon: Daemon, http: httpx.AsyncClient
) -> None:
    rng = random.Random(3)
    data = [
        sample(
            t, rng.gauss(-40, 5), quality=Quality.MISSING if rng.random() < 0.01 else Quality.GOOD
        )
        for t in range(0, 3 * DAY_S, 7)
    ]
    write(daemon.store, data)
    start_s, end_s = 3 * 3600 + 17.3, 2 * DAY_S + 5 * 3600 + 41.9  # ragged, unaligned ends
    r = await http.get(
        "/api/v1/chambers/c1/history",
        params={"channel": "t1", "start": iso_s(start_s), "end": iso_s(end_s), "max_points": 300},
    )
    body = r.json()
    info = body["series"]["t1"]
    assert info["source"] in ("1m", "10m", "1h") and len(body["points"]) <= 300
    width_us = int(info["bucket_width_s"] * 1e6)
    ts = np.array([s.timestamp_us for s in data if s.has_value])
    v = np.array([s.value for s in data if s.has_value])
    keep = (ts >= T0_US + int(start_s * 1e6)) & (ts < T0_US + int(end_s * 1e6))
    ts, v = ts[keep], v[keep]
    first_bucket = datetime.fromisoformat(body["points"][0]["timestamp"].replace("Z", "+00:00"))
    origin = int(first_bucket.timestamp() * 1e6)
    idx = (ts - origin) // width_us
    assert sum(p["count"] for p in body["points"]) == len(v)
    for k, p in zip(np.unique(idx), body["points"], strict=True):
        in_bucket = v[idx == k]
        assert p["count"] == len(in_bucket)
        assert p["min"] == in_bucket.min() and p["max"] == in_bucket.max()
        assert p["value"] == pytest.approx(in_bucket.mean(), rel=1e-12)


async def test_raw_when_it_fits_and_raw_buckets_below_the_finest_rollup(
    daemon: Daemon, http: httpx.AsyncClient
) -> None:
    write(daemon.store, [sample(t, float(t), channel=c) for t in range(3600) for c in ("t1", "t2")])
    url = "/api/v1/chambers/c1/history"
    hour = {"start": iso_s(0), "end": iso_s(3600)}
    body = (await http.get(url, params={**hour, "channel": "t1", "max_points": 5000})).json()
    assert body["series"]["t1"] == {"source": "raw", "bucket_width_s": None, "points": 3600}
    assert body["points"][1] == {
        "channel": "t1",
        "timestamp": iso_s(1),
        "value": 1.0,
        "quality": "good",
    }
    body = (await http.get(url, params={**hour, "max_points": 200})).json()  # shared: 100 each
    assert set(body["series"]) == {"t1", "t2", "t3"} and len(body["points"]) <= 200
    assert body["series"]["t1"]["source"] == "raw_buckets"
    assert body["series"]["t1"]["bucket_width_s"] == 54.546  # 66 each: 3600 s / 66, in ms
    r = await http.get(url, params={**hour, "max_points": 2})
    assert r.status_code == 422 and "fewer than the 3 channels" in r.json()["detail"]
    r = await http.get(url, params={**hour, "max_points": 10, "format": "csv"})
    assert r.status_code == 422 and "max_points is for format=json" in r.json()["detail"]


async def test_csv_and_parquet_stream_the_raw_samples(
    daemon: Daemon, http: httpx.AsyncClient
) -> None:
    write(daemon.store, [sample(t, t / 10, channel=c) for t in range(3000) for c in ("t1", "t3")])
    params = {"start": iso_s(0), "end": iso_s(3000), "channel": ["t1", "t3"]}
    async with http.stream(
        "GET", "/api/v1/chambers/c1/history", params={**params, "format": "csv"}
    ) as r:
        assert r.headers["content-type"].startswith("text/csv")
        chunks = [c async for c in r.aiter_bytes()]
    text = b"".join(chunks).decode()
    lines = text.splitlines()
    assert lines[0].startswith("timestamp,channel,value,raw_value,unit,quality")
    assert len(lines) == 6001
    # Arrow's CSV writer: text in quotes, numbers in their shortest exact form.
    assert lines[2].startswith(f'"{iso_s(0)}","t3",0,0,"degC","good"')
    r = await http.get("/api/v1/chambers/c1/history", params={**params, "format": "parquet"})
    table = pq.read_table(io.BytesIO(r.content))
    assert table.num_rows == 6000
    assert table.column("channel").to_pylist()[:2] == ["t1", "t3"]
    assert table.schema.field("timestamp").type.tz == "UTC"
    assert table.column("value").to_pylist()[-1] == pytest.approx(299.9)


def test_where_a_devices_history_ends_is_its_least_stored_record(store: Store) -> None:
    """device_cursor: the newest record stored on every channel of the device (the smallest of
    the channels' newest), on both engines; channels with no record yet say nothing."""
    assert store.device_cursor("c1", ["t1", "t2", "t3"]) is None
    store.write(
        [sample(i, 20.0, "t1", sequence=100 + i) for i in range(5)]  # records 100..104
        + [sample(i, 21.0, "t2", sequence=100 + i) for i in range(3)]  # 100..102: a crash
        + [sample(9, 22.0, "t3")]  # a live sample: no sequence
    )
    end = store.device_cursor("c1", ["t1", "t2", "t3"])
    assert end is not None and end[0] == 102 and end[1] == T0_US + 2_000_000
    assert store.device_cursor("c1", ["t1"]) == (104, T0_US + 4_000_000, None)
    assert store.device_cursor("c1", []) is None
