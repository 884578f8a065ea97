"""`loggerd api` on a data folder no loggerd has written to yet: it makes the folder and an
empty store, and serves it."""

from __future__ import annotations

from pathlib import Path

import httpx

from loggerd.api.app import create_app
from loggerd.service.config import parse_config
from loggerd.service.replica import Replica


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
