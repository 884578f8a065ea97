"""The API in a process of its own: what it serves is acquisition's, and nothing that happens
to it (killed, frozen) costs acquisition a poll."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from loggerd.core.errors import LoggerdError
from loggerd.service.daemon import Daemon
from loggerd.service.runtime import serve_apart
from loggerd_sim.host import SimulatorHost
from tests.processes import children, ended

from .daemons import CHANNELS, device_toml, make_daemon, settle

WORKER = "api_worker"


@dataclass
class Apart:
    daemon: Daemon
    url: str
    stop: asyncio.Event

    def api_pid(self) -> int:
        (pid,) = children(os.getpid(), WORKER)
        return pid

    @property
    def reads_ok(self) -> int:
        return self.daemon.pollers[0].health.reads_ok


async def until(predicate: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.02)  # sync-ok: polling a condition under a deadline
    assert predicate(), what


@pytest.fixture
async def apart(tmp_path: Path, sim: SimulatorHost) -> AsyncIterator[Apart]:
    assert sim.tcp is not None
    daemon = make_daemon(tmp_path, device_toml("c", "logger-2", sim.tcp.url, 2))
    gc.unfreeze()  # what an earlier test froze: see the test of the frozen start-up objects
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve_apart(daemon, "127.0.0.1", 0, stop, ready.set_result))
    try:
        async with asyncio.timeout(60):
            url = await asyncio.shield(ready)
        yield Apart(daemon, url, stop)
    finally:
        stop.set()
        await task
    assert children(os.getpid(), WORKER) == []  # stopped with acquisition


async def test_the_api_process_serves_acquisitions_live_view_and_health(apart: Apart) -> None:
    await settle(apart.daemon, 3 * len(CHANNELS))
    async with httpx.AsyncClient(base_url=apart.url, timeout=30) as http:
        latest = (await http.get("/api/v1/chambers/c/latest")).json()
        here = apart.daemon.live.latest("c")
        assert here is not None
        served = {r["channel"]: r for r in latest["readings"]}
        # the API's process read the shared view: the newest sample of each channel, or one
        # taken since (the daemon polls on meanwhile)
        for reading in here:
            assert reading.sample is not None
            r = served[reading.channel.channel_id]
            assert r["quality"] == "good" and r["unit"] == reading.channel.unit
        assert served.keys() == {c for c, _ in CHANNELS}
        health = (await http.get("/api/v1/health")).json()
        assert [d["device_id"] for d in health["devices"]] == ["logger-2"]
        await until(lambda: apart.reads_ok > 0, "no poll")
        seen = 0
        async with asyncio.timeout(30):
            while seen == 0:  # the snapshot is at most a second old
                health = (await http.get("/api/v1/health")).json()
                seen = health["devices"][0]["reads_ok"]
        assert health["writer"] is not None and health["writer"]["capacity"] > 0


async def test_what_start_up_built_is_kept_out_of_the_collectors_full_passes(
    apart: Apart,
) -> None:
    """The daemon's pollers and the rest of what start-up made are frozen (gc.freeze): a full
    collection walks none of them (with a thousand loggers, 415,000 objects a pass)."""
    assert gc.get_freeze_count() > 0
    poller = apart.daemon.pollers[0]
    tracked = {id(o) for o in gc.get_objects(generation=2)}
    assert id(poller) not in tracked and id(poller.health) not in tracked
    gc.unfreeze()


async def test_a_killed_api_process_is_started_again_and_acquisition_never_stops(
    apart: Apart,
) -> None:
    first = apart.api_pid()
    os.kill(first, signal.SIGKILL)
    await until(lambda: ended(first), "the API's process did not die")
    during = apart.reads_ok
    async with httpx.AsyncClient(base_url=apart.url, timeout=30) as http:
        # waits in the socket's backlog until the new process serves it
        resp = await http.get("/api/v1/chambers")
    assert resp.status_code == 200
    assert [c["id"] for c in resp.json()["chambers"]] == ["c"]
    second = apart.api_pid()
    assert second != first
    # acquisition polled on while there was no API at all
    assert apart.reads_ok > during


async def test_a_frozen_api_process_holds_no_poll(apart: Apart) -> None:
    pid = apart.api_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        health = apart.daemon.pollers[0].health
        before = health.reads_ok
        # 40 polls while the API cannot run at all (and asks for no snapshot)
        await until(lambda: health.reads_ok >= before + 40, "acquisition waited for the API")
        assert health.reads_failed == 0
    finally:
        os.kill(pid, signal.SIGCONT)
    async with httpx.AsyncClient(base_url=apart.url, timeout=30) as http:
        assert (await http.get("/api/v1/chambers")).status_code == 200


async def test_a_taken_port_is_said_before_acquisition_starts(
    tmp_path: Path, sim: SimulatorHost
) -> None:
    assert sim.tcp is not None
    daemon = make_daemon(tmp_path, device_toml("c", "logger-2", sim.tcp.url, 2))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LoggerdError, match=rf"could not start on 127.0.0.1:{port} .*--port"):
            await serve_apart(daemon, "127.0.0.1", port, asyncio.Event())
    assert daemon.accepted == 0 and daemon.pollers[0].health.reads_ok == 0
    assert children(os.getpid(), WORKER) == []
