"""`loggerd api` on a data folder no loggerd has written to yet: it makes the folder and an
empty store, and serves it; and serves with the configuration's raw-point limit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from loggerd.api.app import create_app
from loggerd.core.channels import Channel
from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.service.config import parse_config
from loggerd.service.replica import Replica
from loggerd.service.runtime import serve
from loggerd.service.stores import open_store


async def test_a_replica_makes_its_sqlite_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "not" / "there" / "yet"
    config = parse_config(
        f'data_dir = "{data.as_posix()}"\n[[chamber]]\nid = "c"\n'
        '[[chamber.device]]\nid = "d"\ndriver = "simulated"\n',
        "replica.toml",
        devices=False,
    )
    replica = Replica(config)
    await replica.start()
    try:
        transport = httpx.ASGITransport(app=create_app(replica.ports()))
        async with httpx.AsyncClient(transport=transport, base_url="http://r") as http:
            chambers = (await http.get("/api/v1/chambers")).json()["chambers"]
            health = (await http.get("/api/v1/health")).json()
    finally:
        await replica.stop()
    assert (data / "loggerd.db").is_file()
    assert chambers == [] and health["status"] == "ok" and health["writer"] is None


async def test_the_raw_point_limit_is_the_configurations(tmp_path: Path) -> None:
    """`[api] max_raw_points` reaches the API that `loggerd api` serves: 12 samples in the
    store, a limit of 10, and history without max_points is refused with the one to use."""
    config = parse_config(
        f'data_dir = "{tmp_path.as_posix()}"\n[api]\nmax_raw_points = 10\n[[chamber]]\nid = "c"\n'
        '[[chamber.device]]\nid = "d"\ndriver = "simulated"\n',
        "replica.toml",
        devices=False,
    )
    store = open_store(config)
    try:
        store.open({"c": None}, [Channel("c", "air", "d", "air", "temperature", "degC")])
        t0_us = 1_780_000_000_000_000
        store.write(
            [
                Sample("c", "air", t0_us + i * 1_000_000, 20.0, 20.0, Quality.GOOD, TimeSource.HOST)
                for i in range(12)
            ]
        )
    finally:
        store.close()
    stop, ready = asyncio.Event(), asyncio.Queue[str]()
    serving = asyncio.create_task(serve(Replica(config), "127.0.0.1", 0, stop, ready.put_nowait))
    try:
        url = await asyncio.wait_for(ready.get(), 30)
        span = {"start": "2026-05-28T00:00:00Z", "end": "2026-05-29T00:00:00Z"}
        async with httpx.AsyncClient(base_url=url) as http:
            refused = await http.get("/api/v1/chambers/c/history", params=span)
            answered = await http.get("/api/v1/chambers/c/history", params={**span, "limit": 10})
    finally:
        stop.set()
        await serving
    assert refused.status_code == 422 and refused.json()["max_points"] == 10
    assert answered.status_code == 200 and len(answered.json()["points"]) == 10
