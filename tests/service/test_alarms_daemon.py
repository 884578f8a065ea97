"""Alarms in the running daemon: judged on the samples it accepts and on its devices' status,
stored, served by the API, and sent to a webhook — from the configuration a lab writes."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from loggerd_sim.host import SimulatorHost
from tests.notify.test_senders import Receiver

from .daemons import client, device_toml, make_daemon, settle


async def test_a_limit_and_a_dead_device_raise_alarms_that_reach_a_webhook(
    tmp_path: Path, sim: SimulatorHost
) -> None:
    assert sim.tcp is not None
    air = sim.loggers[2].point_values()["temperature_1"]  # the manual clock stands still
    receiver = Receiver(down=1, expect=2)
    server = threading.Thread(target=receiver.serve_forever, daemon=True)
    server.start()
    alarms = (
        "[alarms]\nstatus_interval_s = 0.1\n"
        f'webhooks = ["http://127.0.0.1:{receiver.server_address[1]}/hook"]\n'
        f'[[alarms.limit]]\nchamber = "c"\nchannel = "air"\nhigh = {air - 1}\n\n'
    )
    daemon = make_daemon(
        tmp_path,
        alarms
        + device_toml("c", "logger-2", sim.tcp.url, 2)
        + device_toml("c", "nobody", sim.tcp.url, 9).replace('id = "c"\n\n', "", 1)
        .replace("[[chamber]]\n", "", 1)
        .replace('id = "air"', 'id = "air9"').replace('id = "wall"', 'id = "wall9"')
        .replace('id = "rh"', 'id = "rh9"').replace('id = "fp"', 'id = "fp9"'),
    )  # fmt: skip
    await daemon.start()
    try:
        await settle(daemon, 20)
        assert await asyncio.to_thread(receiver.done.wait, 20), daemon.alarms.senders[0].health
        async with client(daemon) as http:
            alarms_out = (await http.get("/api/v1/alarms", params={"state": "active"})).json()
    finally:
        await daemon.stop()
        receiver.shutdown()
        receiver.server_close()
        server.join()
    kinds = {(a["kind"], a["subject"]) for a in alarms_out["alarms"]}
    assert ("high", "air") in kinds
    assert ("communication", "nobody") in kinds
    high = next(a for a in alarms_out["alarms"] if a["kind"] == "high")
    assert high["value"] == pytest.approx(air, rel=1e-6) and high["limit"] == air - 1
    sent = {(b["kind"], b["subject"], b["action"]) for b in receiver.bodies}
    assert {("high", "air", "raised"), ("communication", "nobody", "raised")} <= sent
    assert receiver.refused == 1  # down once, then every action delivered


async def test_alarm_evaluation_that_is_stuck_holds_no_poll(
    tmp_path: Path, sim: SimulatorHost
) -> None:
    """The alarm thread blocked in the middle of a batch: the device is polled on and its
    samples stored, and the alarms judge the backlog once free."""
    assert sim.tcp is not None
    daemon = make_daemon(
        tmp_path,
        '[alarms]\n[[alarms.limit]]\nchamber = "c"\nchannel = "air"\nhigh = 1000\n\n'
        + device_toml("c", "logger-2", sim.tcp.url, 2),
    )
    gate, stuck = threading.Event(), threading.Event()
    judge = daemon.alarms.engine.accept

    def held(samples: list[Any]) -> list[Any]:
        stuck.set()
        gate.wait(60)  # bounded: a failing test still ends
        return judge(samples)

    daemon.alarms.engine.accept = held  # type: ignore[method-assign]
    await daemon.start()
    try:
        assert await asyncio.to_thread(stuck.wait, 20)
        held_at = daemon.accepted
        await settle(daemon, held_at + 40)  # ten more polls of four channels, alarms stuck
        assert daemon.alarms.judged < held_at + 40
        gate.set()
        assert await asyncio.to_thread(daemon.alarms.wait_judged, held_at + 40, 20)
    finally:
        gate.set()
        await daemon.stop()
