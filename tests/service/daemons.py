"""What the daemon's tests share: a reference logger's configuration, a daemon made from it, an
HTTP client on its API, and a wait for its samples to be stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from loggerd.api.app import create_app
from loggerd.service.config import parse_config
from loggerd.service.daemon import Daemon

CHANNELS = [
    ("air", "temperature_1"),
    ("wall", "temperature_2"),
    ("rh", "rh"),
    ("fp", "frost_point"),
]


def device_toml(
    chamber: str, device: str, url: str, address: int, extra: str = "", history: str = "polls"
) -> str:
    """A reference logger's device table; its history from live polls unless told otherwise
    (these tests are about polling; tests/service/test_backfill.py reads the memory)."""
    channels = "".join(
        f'[[chamber.device.channel]]\nid = "{c}"\npoint = "{p}"\n' for c, p in CHANNELS
    )
    return (
        f'[[chamber]]\nid = "{chamber}"\n\n[[chamber.device]]\nid = "{device}"\n'
        f'driver = "reference-modbus"\nurl = "{url}"\naddress = {address}\n'
        f'poll_interval_s = 0.05\nhistory = "{history}"\n{extra}\n{channels}\n'
    )


def make_daemon(tmp_path: Path, body: str) -> Daemon:
    text = f'data_dir = "{tmp_path.as_posix()}"\n[store]\nflush_interval_s = 0.05\n\n{body}'
    return Daemon(parse_config(text, "test.toml"))


def client(daemon: Daemon) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(daemon.ports())), base_url="http://loggerd"
    )


async def settle(daemon: Daemon, samples: int) -> None:
    async with asyncio.timeout(20):
        await daemon.wait_accepted(samples)
        await daemon.writer.flushed()
