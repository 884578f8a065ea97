"""The simulated logger's Modbus TCP interface as PROTOCOL.md §2.2 has it: a header that cannot
frame what follows closes the connection, a PDU of the wrong length is exception 03, and several
connections at once are each answered, in order."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest

from loggerd_protocol import modbus as mb
from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.logger import ManualClock
from tests.simulators import simulator

READ_MEMORY = mb.encode_request(mb.ReadRegisters(mb.READ_INPUT, 0x0200, 6))
REPLY_TIMEOUT_S = 2.0

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def tcp_host(manual_clock: ManualClock) -> AsyncIterator[SimulatorHost]:
    async with simulator(SimOptions(rtu=False), manual_clock) as host:
        yield host


async def connect(host: SimulatorHost) -> Connection:
    assert host.tcp is not None
    return await asyncio.open_connection(host.tcp.host, host.tcp.port)


def header(transaction_id: int, length: int, protocol: int = 0, unit: int = 1) -> bytes:
    return struct.pack(">HHHB", transaction_id, protocol, length, unit)


async def reply(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(transaction id, PDU) of the next reply."""
    head = mb.mbap_header(
        await asyncio.wait_for(reader.readexactly(mb.MBAP_HEADER_LEN), REPLY_TIMEOUT_S)
    )
    return head.transaction_id, await reader.readexactly(head.pdu_length)


async def closed_without_a_reply(reader: asyncio.StreamReader) -> bool:
    return await asyncio.wait_for(reader.read(), REPLY_TIMEOUT_S) == b""


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(header(7, 1 + len(READ_MEMORY), protocol=1), id="protocol-id-1"),
        pytest.param(header(7, 1), id="length-1"),
        pytest.param(header(7, 255), id="length-255"),
    ],
)
async def test_a_header_that_cannot_frame_the_pdu_closes_the_connection(
    tcp_host: SimulatorHost, bad: bytes
) -> None:
    reader, writer = await connect(tcp_host)
    try:
        writer.write(bad + READ_MEMORY)
        await writer.drain()
        assert await closed_without_a_reply(reader)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_pdu_of_the_wrong_length_for_its_function_is_exception_03(
    tcp_host: SimulatorHost,
) -> None:
    """The header frames the PDU (length − 1 bytes); a read with a byte too many is a PDU
    whose length does not match (§8 step 2), and the connection goes on."""
    reader, writer = await connect(tcp_host)
    try:
        writer.write(header(9, 2 + len(READ_MEMORY)) + READ_MEMORY + b"\x00")
        writer.write(header(10, 1 + len(READ_MEMORY)) + READ_MEMORY)
        await writer.drain()
        assert await reply(reader) == (9, bytes((0x84, 0x03)))
        transaction_id, pdu = await reply(reader)
        assert transaction_id == 10 and pdu[:2] == bytes((0x04, 12))
    finally:
        writer.close()
        await writer.wait_closed()


async def test_several_connections_at_once_are_each_answered_in_order(
    tcp_host: SimulatorHost,
) -> None:
    """Four masters connected at once, each sending two requests without waiting: every
    request is answered on its own connection, in the order it was sent there."""
    connections = [await connect(tcp_host) for _ in range(4)]
    try:
        for n, (_, writer) in enumerate(connections):
            for k in range(2):
                writer.write(header(100 * n + k, 1 + len(READ_MEMORY)) + READ_MEMORY)
        for _, writer in connections:
            await writer.drain()
        for n, (reader, _) in enumerate(connections):
            for k in range(2):
                transaction_id, pdu = await reply(reader)
                assert (transaction_id, pdu[:2]) == (100 * n + k, bytes((0x04, 12)))
    finally:
        for _, writer in connections:
            writer.close()
            await writer.wait_closed()
