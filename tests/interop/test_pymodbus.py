"""An independent Modbus master (pymodbus) reads the simulator as the specification promises.

This keeps our codec honest: the simulator and our driver share one codec, so a mistake in it
would go unnoticed between them; pymodbus implements Modbus on its own.
"""

from __future__ import annotations

import math

import pytest
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from loggerd_protocol.definition import reference_logger
from loggerd_sim.host import SimulatorHost
from loggerd_sim.logger import ManualClock

DEFN = reference_logger()


async def read_live(
    client: AsyncModbusTcpClient | AsyncModbusSerialClient, address: int
) -> dict[str, float]:
    live = DEFN.field("temperature_1").address
    rr = await client.read_input_registers(live, count=36, device_id=address)
    assert not rr.isError(), rr
    out = {}
    for point in DEFN.point_names():
        f = DEFN.field(point)
        regs = rr.registers[f.address - live : f.end - live]
        value = client.convert_from_registers(regs, client.DATATYPE.FLOAT32, word_order="big")
        assert isinstance(value, float)
        out[point] = value
    return out


def check(values: dict[str, float], truth: dict[str, float]) -> None:
    for point, want in truth.items():
        if math.isnan(want):
            assert math.isnan(values[point]), point
        else:
            assert values[point] == pytest.approx(want, rel=1e-6), point


async def test_pymodbus_tcp_reads_live_values(
    sim: SimulatorHost, manual_clock: ManualClock
) -> None:
    assert sim.tcp is not None
    manual_clock.advance(600)
    client = AsyncModbusTcpClient("127.0.0.1", port=sim.tcp.port, timeout=2, retries=0)
    try:
        assert await client.connect()
        check(await read_live(client, 2), sim.loggers[2].point_values())
        # The clock is a uint32 in holding registers 0x0310-0x0311, high word first.
        clock = DEFN.field("clock")
        rr = await client.read_holding_registers(clock.address, count=2, device_id=1)
        epoch = client.convert_from_registers(rr.registers, client.DATATYPE.UINT32)
        assert epoch == int(sim.loggers[1].logger_time_s())
    finally:
        client.close()


async def test_pymodbus_rtu_reads_live_values_on_the_pty(sim: SimulatorHost) -> None:
    assert sim.rtu is not None
    # A pty carries bytes, not bits: no parity there (Linux refuses PARENB on a pty).
    client = AsyncModbusSerialClient(sim.rtu.path, baudrate=19200, parity="N", timeout=2, retries=0)
    try:
        assert await client.connect()
        check(await read_live(client, 1), sim.loggers[1].point_values())
    finally:
        client.close()
