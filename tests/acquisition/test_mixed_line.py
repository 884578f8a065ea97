"""A lab's RS-485 line end to end: a reference logger and a Vaisala HMT330-class transmitter
(from its profile) share one line; the daemon reads both through one master and stores both."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from loggerd.modbus.master import ModbusMaster
from loggerd.service.config import parse_config
from loggerd.service.daemon import Daemon
from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.logger import ManualClock


async def test_logger_and_transmitter_share_one_line(
    tmp_path: Path, manual_clock: ManualClock
) -> None:
    host = SimulatorHost(
        SimOptions(addresses=(1,), profile_devices={240: "vaisala_hmt330"}, tcp=False),
        clock=manual_clock,
    )
    await host.start()
    assert host.rtu is not None
    text = f"""
data_dir = "{tmp_path.as_posix()}"
[store]
flush_interval_s = 0.05

[[chamber]]
id = "c1"

[[chamber.device]]
id = "logger"
driver = "reference-modbus"
url = "{host.rtu.url}"
address = 1
poll_interval_s = 0.05

[[chamber.device.channel]]
id = "air"
point = "temperature_1"

[[chamber.device]]
id = "hmt330"
driver = "modbus-profile"
profile = "vaisala_hmt330"
url = "{host.rtu.url}"
address = 240
poll_interval_s = 0.05

[[chamber.device.channel]]
id = "rh"
point = "rh"

[[chamber.device.channel]]
id = "tdf"
point = "frost_point"
"""
    daemon = Daemon(parse_config(text, "mixed.toml"))
    await daemon.start()
    try:
        async with asyncio.timeout(20):
            await daemon.wait_accepted(3 * 3)
            await daemon.writer.flushed()
        masters = daemon.acquisition.lines.lines()
        assert list(masters) == [host.rtu.url]  # one line, one master for both devices
        assert isinstance(masters[host.rtu.url], ModbusMaster)
        ring = {c: daemon.live.ring("c1", c).latest() for c in ("air", "rh", "tdf")}
        assert {w.quality[0].value for w in ring.values()} == {"good"}
        chamber = host.devices[240].chamber
        state = chamber.state
        assert float(ring["rh"].value[0]) == pytest.approx(state.rh_pct, rel=1e-5)
        assert float(ring["tdf"].value[0]) == pytest.approx(state.frost_point_c, abs=1e-4)
    finally:
        await daemon.stop()
        await host.stop()
