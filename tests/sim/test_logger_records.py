"""What the simulated logger puts in its records and lines, against PROTOCOL.md and its golden
vectors: rounding to 0.01 (§11.2), missing and out-of-range values in memory (§7.1), and the
frost point, of which a vector holds one valid answer (§13)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterator

import pytest
import serial

from loggerd_protocol import modbus as mb
from loggerd_protocol.definition import reference_logger
from loggerd_protocol.values import decode_block, decode_record, encode_record
from loggerd_sim.ascii_server import AsciiPtyServer
from loggerd_sim.chamber import Chamber, ChamberState
from loggerd_sim.logger import LoggerSettings, ManualClock, SimulatedLogger
from loggerd_sim.modbus_server import ModbusRtuPtyServer
from loggerd_sim.profile import builtin_profile
from tests.protocol.float32 import same_float32
from tests.protocol.test_ascii_vectors import load_case as load_ascii_case
from tests.protocol.test_codec_vectors import load_case
from tests.sim.test_ascii_server import Terminal

DEFN = reference_logger()
FROST_POINT_TOLERANCE_C = 0.001  # §13: any inversion within 1 mK is right
LIVE = [f for f in DEFN.table("input") if 0x0100 <= f.address < 0x0143]


class StillChamber(Chamber):
    """A chamber whose sensors read one state, whatever the time."""

    def __init__(self, state: ChamberState) -> None:
        super().__init__(builtin_profile(), channel_count=len(state.channel_temperatures_c))
        self.still = state

    def advance_to(self, time_s: float) -> ChamberState:
        return self.still


def still(temperatures_c: list[float], rh_pct: float) -> ChamberState:
    return ChamberState(0.0, temperatures_c[0], tuple(temperatures_c), math.nan, rh_pct)


TIES = load_case("rounding_ties_rtu")
(LIVE_READ, POINTER_WRITE, RECORD_READ) = TIES.exchanges


@pytest.fixture
def ties_logger() -> SimulatedLogger:
    """A logger whose eight channels and RH read the rounding_ties_rtu vector's snapshot,
    started at that vector's clock: its first record is that snapshot."""
    values = LIVE_READ.decoded
    temperatures = [values[f"temperature_{i}"] for i in range(1, 9)]
    clock = ManualClock(start_utc_s=float(values["measurement_time"]))
    return SimulatedLogger(
        StillChamber(still(temperatures, values["rh"])), clock, LoggerSettings(interval_s=60)
    )


@pytest.fixture
def rtu_line(ties_logger: SimulatedLogger) -> Iterator[serial.Serial]:
    server = ModbusRtuPtyServer({1: ties_logger})
    asyncio.run(server.start())
    port = serial.serial_for_url(server.url, baudrate=19200, parity="E", timeout=2.0)
    try:
        yield port
    finally:
        port.close()
        asyncio.run(server.stop())


def ask(port: serial.Serial, request: bytes, reply_length: int) -> bytes:
    port.write(request)
    reply: bytes = port.read(reply_length)
    return reply


def test_the_first_record_rounds_the_live_ties_to_even_hundredths(rtu_line: serial.Serial) -> None:
    """The simulator answers the rounding_ties_rtu exchanges: the live float32 values as they
    are, then the record of that measurement rounded half to even, byte for byte."""
    live = ask(rtu_line, LIVE_READ.request, len(LIVE_READ.response))
    _, pdu = mb.rtu_unframe(live)
    response = mb.decode_response(pdu, mb.decode_request(mb.rtu_unframe(LIVE_READ.request)[1]))
    assert isinstance(response, mb.RegistersResponse)
    got = decode_block(LIVE, 0x0100, response.values)
    assert sorted(got) == sorted(LIVE_READ.decoded)
    for name, want in LIVE_READ.decoded.items():
        value = got[name]
        if name == "frost_point":  # the simulator's own inversion: the vector's is one answer
            assert value == pytest.approx(want, abs=FROST_POINT_TOLERANCE_C)
        elif want == "nan":
            assert math.isnan(float(value)), name
        elif isinstance(want, float):
            assert same_float32(float(value), want), (name, value, want)
        else:
            assert value == want, name
    for exchange in (POINTER_WRITE, RECORD_READ):
        assert ask(rtu_line, exchange.request, len(exchange.response)) == exchange.response


@pytest.fixture
async def ascii_line(ties_logger: SimulatedLogger) -> AsyncIterator[Terminal]:
    server = AsciiPtyServer(ties_logger)
    await server.start()
    term = Terminal(server.path)
    try:
        yield term
    finally:
        term.close()
        await server.stop()


async def test_read_and_dump_lines_round_as_the_record_does(ascii_line: Terminal) -> None:
    for exchange in load_ascii_case("ascii_rounding_ties"):
        ascii_line.send(exchange.send)
        assert [await ascii_line.line() for _ in exchange.receive] == exchange.receive


async def test_what_is_rounded_is_the_float32_measurement() -> None:
    """A sensor reading 0.16499999999 °C is measured as the float32 0.16500000655 the live
    registers carry, so the record and the lines say 0.17, as a master rounding the live value
    would, not the 0.16 of the finer reading."""
    logger = SimulatedLogger(
        StillChamber(still([0.16499999999], 50.0)), ManualClock(), LoggerSettings(channel_count=1)
    )
    logger.sync()
    words = encode_record(DEFN, logger.memory[-1])
    assert words[5] == 17
    server = AsciiPtyServer(logger)
    await server.start()
    term = Terminal(server.path)
    try:
        assert (await term.ask("READ?")).split(",")[2] == "0.17"
    finally:
        term.close()
        await server.stop()


def test_the_frost_point_vector_is_one_answer_within_a_millikelvin() -> None:
    """read_live_rtu's frost point is one float32 of many that §13 allows: the simulator's own
    inversion of the same inputs lies within 1 mK of it, and need not be the same float."""
    (exchange,) = load_case("read_live_rtu").exchanges
    vector = exchange.decoded
    chamber = StillChamber(still([vector["temperature_1"]], vector["rh"]))
    logger = SimulatedLogger(chamber, ManualClock(), LoggerSettings(channel_count=1))
    logger.sync()
    ours = logger.point_values()["frost_point"]
    assert ours == pytest.approx(vector["frost_point"], abs=FROST_POINT_TOLERANCE_C)


def test_a_record_flags_what_it_can_without_channel_status() -> None:
    """§7.1 from memory: an open channel and an unfitted one are -32768 (with the record's
    sensor_fault bit for the open one), a reading beyond its range is kept as it is, for the
    reader to compare with the range, and a frost point that cannot be computed is -32768."""
    temperatures = [-70.25, 185.5, -69.88, 21.37]
    logger = SimulatedLogger(
        StillChamber(still(temperatures, 12.5)),
        ManualClock(),
        LoggerSettings(channel_count=4, sensor_faults={"temperature_3": "open"}),
    )
    logger.sync()
    record = decode_record(DEFN, encode_record(DEFN, logger.memory[-1]))
    assert record is not None
    values = record.values
    assert math.isnan(values["temperature_3"]) and math.isnan(values["temperature_5"])
    assert record.status & 1 << DEFN.device_status_bits["sensor_fault"]
    assert values["temperature_2"] == pytest.approx(185.5)
    assert not DEFN.point("temperature_2").range[0] <= 185.5 <= DEFN.point("temperature_2").range[1]
    assert values["temperature_1"] == pytest.approx(-70.25)
    assert values["frost_point"] == pytest.approx(-79.18)

    hot_reference = SimulatedLogger(
        StillChamber(still([120.0], 50.0)), ManualClock(), LoggerSettings(channel_count=1)
    )
    hot_reference.sync()  # channel 1 beyond the water formulation's +100 °C
    assert math.isnan(hot_reference.memory[-1].values["frost_point"])
    assert encode_record(DEFN, hot_reference.memory[-1])[22] == 0x8000
