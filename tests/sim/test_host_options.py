"""The simulator's options, from `loggerd sim`'s command line, reach every simulated logger."""

from __future__ import annotations

import pytest

import loggerd_sim.host
from loggerd.cli.main import main
from loggerd.core.errors import LoggerdError
from loggerd_protocol.definition import reference_logger
from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.logger import LoggerSettings, ManualClock, SimClock


def test_options_reach_every_logger(manual_clock: ManualClock) -> None:
    options = SimOptions(
        addresses=(1, 2),
        interval_s=30,
        capacity=4,
        clock_offset_s=-2.5,
        clock_drift_ppm=1000,
        tcp=False,
        rtu=False,
    )
    host = SimulatorHost(options, clock=manual_clock)
    manual_clock.advance(200)  # records at 0, 30, …, 180 s: 7 taken, the last 4 held
    start = int(manual_clock.start_utc_s)
    for logger in host.loggers.values():
        logger.sync()
        assert [r.sequence for r in logger.memory] == [4, 5, 6, 7]
        # Every 30 s of the logger's own (fast) clock, which read 2.5 s behind at the start.
        assert [r.timestamp for r in logger.memory] == [
            start + 87,  # 90 s − 2.5 s = 87.5 s
            start + 117,
            start + 147,
            start + 177,
        ]
        assert logger.clock_reading_s() == start + 197  # 200 × 1.001 − 2.5 = 197.7 s


def test_defaults_are_the_reference_loggers(manual_clock: ManualClock) -> None:
    host = SimulatorHost(SimOptions(tcp=False, rtu=False), clock=manual_clock)
    # A logger leaves the factory at address 1 (PROTOCOL.md §2.1), and so does a simulated one.
    assert list(host.loggers) == [reference_logger().default_address] == [1]
    assert LoggerSettings().address == 1
    logger = host.loggers[1]
    assert logger.memory.maxlen == 100_000 == logger.defn.memory_capacity_records
    assert logger.settings.interval_s == 10
    assert logger.clock_reading_s() == int(manual_clock.start_utc_s)


def test_a_loggers_own_settings_take_precedence(manual_clock: ManualClock) -> None:
    own = LoggerSettings(address=2, interval_s=60, capacity=9)
    host = SimulatorHost(
        SimOptions(addresses=(1, 2), capacity=3, tcp=False, rtu=False, logger_settings={2: own}),
        clock=manual_clock,
    )
    assert (host.loggers[1].memory.maxlen, host.loggers[2].memory.maxlen) == (3, 9)
    assert host.loggers[2].settings is own


def test_the_command_line_reaches_the_loggers(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[SimulatorHost] = []

    class Host(SimulatorHost):
        """The real host, on a manual clock, that stops `loggerd sim` instead of serving."""

        def __init__(self, options: SimOptions, clock: SimClock | None = None) -> None:
            super().__init__(options, ManualClock())
            made.append(self)

        async def start(self) -> None:
            raise LoggerdError("built; not started")

    monkeypatch.setattr(loggerd_sim.host, "SimulatorHost", Host)
    argv = ["sim", "--addresses", "3,4", "--interval", "30", "--capacity", "4"]
    argv += ["--clock-offset", "-2.5", "--clock-drift-ppm", "1000"]
    assert main(argv) == 2  # the error raised by start(), as loggerd reports any
    (host,) = made
    assert (host.options.capacity, host.options.interval_s) == (4, 30)
    assert (host.options.clock_offset_s, host.options.clock_drift_ppm) == (-2.5, 1000)
    assert isinstance(host.clock, ManualClock)
    host.clock.advance(200)
    start = int(host.clock.start_utc_s)
    for address in (3, 4):
        logger = host.loggers[address]
        logger.sync()
        assert logger.settings.interval_s == 30
        assert [r.sequence for r in logger.memory] == [4, 5, 6, 7]
        assert logger.memory[0].timestamp == start + 87
        assert logger.clock_reading_s() == start + 197


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--capacity", "0"], "capacity must be"),
        (["--interval", "0"], "interval_s must be 1..3600 s, got 0"),
        (["--clock-drift-ppm=-1e6"], "clock_drift_ppm must be within"),
        (["--faults", "crc=2"], "--faults: rates must be >= 0 and add up to at most 1"),
        (["--device", "hmt330"], "--device 'hmt330': expected ADDRESS=PROFILE"),
        (["--addresses", "1,b"], "--addresses '1,b': expected Modbus addresses"),
        (["--speed", "fast"], "--speed: could not convert string to float: 'fast'"),
    ],
)
def test_a_setting_the_loggers_do_not_take_is_a_clear_error(
    option: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", "--no-tcp", "--no-rtu", *option]) == 2
    assert message in capsys.readouterr().err


def test_a_commands_own_flag_of_the_same_name_does_not_reach_the_simulator() -> None:
    """`loggerd demo --host` is the API's address: the simulator still serves on 127.0.0.1."""
    from loggerd.cli.main import build_parser
    from loggerd_sim import cli as sim_cli

    args = build_parser().parse_args(["demo", "--host", "10.1.2.3", "--speed", "5"])
    options = sim_cli.options(args)
    assert options.host == "127.0.0.1" and args.host == "10.1.2.3"
    assert options.speed == 5.0 and options.interval_s == 2  # the demo's own default
    sim_args = build_parser().parse_args(["sim", "--host", "10.1.2.3"])
    assert sim_cli.options(sim_args).host == "10.1.2.3"
