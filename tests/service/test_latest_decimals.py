"""A logger's float32 reaches `latest` as the decimal it sent (25.05986), not as the expansion of
the binary fraction (25.059860229492188)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from loggerd.link.lines import LinePool
from loggerd_drivers.reference_modbus import ReferenceModbusConfig, ReferenceModbusDriver
from loggerd_sim.host import SimulatorHost
from loggerd_sim.logger import ManualClock

from ..protocol.float32 import as_float32, shortest_decimal
from .daemons import CHANNELS, client, device_toml, make_daemon, settle


async def test_live_reading_and_latest_carry_the_decimal_the_logger_sent(
    tmp_path: Path, sim: SimulatorHost, manual_clock: ManualClock
) -> None:
    manual_clock.advance(1800)  # half an hour into the cold soak: values of many digits
    assert sim.tcp is not None
    lines = LinePool()
    driver = ReferenceModbusDriver(ReferenceModbusConfig(url=sim.tcp.url, address=2), lines)
    try:
        live = {r.point: r for r in await asyncio.to_thread(driver.read)}
    finally:
        lines.close()
    daemon = make_daemon(tmp_path, device_toml("c", "logger", sim.tcp.url, 2))
    await daemon.start()
    try:
        await settle(daemon, 2 * len(CHANNELS))
        async with client(daemon) as http:
            latest = (await http.get("/api/v1/chambers/c/latest")).json()["readings"]
    finally:
        await daemon.stop()
    truth = sim.loggers[2].point_values()  # the manual clock stands still
    point_of = dict(CHANNELS)
    for r in latest:
        point = point_of[r["channel"]]
        sent = shortest_decimal(as_float32(truth[point]))  # the float32 on the wire
        assert live[point].value == sent, point
        assert r["quality"] == "good" and r["value"] == r["raw_value"] == sent, point
        assert sent != as_float32(truth[point]), point  # a value with float noise to lose
