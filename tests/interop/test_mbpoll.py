"""A real third-party Modbus master (mbpoll, from Debian) reads the simulator over Modbus TCP
and over RTU on the pty, and gets the values PROTOCOL.md promises.

mbpoll numbers registers from 1: register N is PDU address N - 1. `-B` selects big-endian
word order, which is the reference logger's (ABCD).
"""

from __future__ import annotations

import asyncio
import re
import shutil

import pytest

from loggerd_protocol.definition import reference_logger
from loggerd_sim.host import SimulatorHost
from loggerd_sim.logger import ManualClock

DEFN = reference_logger()
MBPOLL = shutil.which("mbpoll")


async def mbpoll(*args: str) -> dict[int, str]:
    """Run mbpoll once; {register number: printed value}."""
    assert MBPOLL, "mbpoll is not installed: apt-get install mbpoll (.ci/run does this)"
    proc = await asyncio.create_subprocess_exec(
        MBPOLL,
        "-1",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    text = out.decode()
    assert proc.returncode == 0, text
    return {int(n): v for n, v in re.findall(r"^\[(\d+)\]:\s+(\S+)", text, re.MULTILINE)}


def endpoint(sim: SimulatorHost, transport: str) -> list[str]:
    assert sim.tcp is not None and sim.rtu is not None
    if transport == "tcp":
        return ["-m", "tcp", "-p", str(sim.tcp.port), "127.0.0.1"]
    # A pty has no parity bits; mbpoll's libmodbus accepts 8N1 there (and 8E1 on hardware).
    return ["-m", "rtu", "-b", "19200", "-P", "none", sim.rtu.path]


def with_target(sim: SimulatorHost, transport: str, *args: str) -> list[str]:
    where = endpoint(sim, transport)
    return [*where[:-1], *args, where[-1]]


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
async def test_mbpoll_reads_live_floats(
    sim: SimulatorHost, manual_clock: ManualClock, transport: str
) -> None:
    manual_clock.advance(900)
    first = DEFN.field("temperature_1").address
    values = await mbpoll(
        *with_target(
            sim, transport, "-a", "2", "-r", str(first + 1), "-c", "4", "-t", "3:float", "-B"
        )
    )
    logger = sim.loggers[2]
    logger.sync()
    truth = logger.point_values()
    assert sorted(values) == [first + 1 + 2 * i for i in range(4)]
    for i in range(4):
        got = float(values[first + 1 + 2 * i])
        assert got == pytest.approx(truth[f"temperature_{i + 1}"], abs=1e-3)


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
async def test_mbpoll_reads_identity_and_rh(sim: SimulatorHost, transport: str) -> None:
    ident = await mbpoll(*with_target(sim, transport, "-a", "1", "-r", "1", "-c", "1", "-t", "3"))
    assert int(ident[1]) == DEFN.model_code == 0x1600
    rh = DEFN.field("rh").address
    values = await mbpoll(
        *with_target(sim, transport, "-a", "1", "-r", str(rh + 1), "-c", "1", "-t", "3:float", "-B")
    )
    assert float(values[rh + 1]) == pytest.approx(sim.loggers[1].point_values()["rh"], abs=1e-3)


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
async def test_mbpoll_sets_the_logging_interval(sim: SimulatorHost, transport: str) -> None:
    interval = DEFN.field("logging_interval").address
    proc = await asyncio.create_subprocess_exec(
        MBPOLL or "mbpoll",
        *with_target(sim, transport, "-a", "1", "-r", str(interval + 1), "-t", "4"),
        "60",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    assert sim.loggers[1].settings.interval_s == 60
    read_back = await mbpoll(
        *with_target(sim, transport, "-a", "1", "-r", str(interval + 1), "-c", "1", "-t", "4")
    )
    assert int(read_back[interval + 1]) == 60
