"""Nothing lost: a logger's records reach history after the daemon was down, a wrapped memory
leaves an explicit gap, and record times are corrected by the measured clock offset."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from loggerd.cli.main import main
from loggerd.core.events import EventKind
from loggerd.core.samples import TimeSource
from loggerd.service.config import parse_config
from loggerd.service.daemon import Daemon
from loggerd.storage.store import StoredSample
from loggerd_protocol.definition import reference_logger
from loggerd_protocol.values import Record, decode_record, encode_record
from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.logger import ManualClock, SimulatedLogger

from .daemons import CHANNELS, client, device_toml

DEFN = reference_logger()
ADDRESS = 2


def config_text(tmp_path: Path, url: str, extra: str = "") -> str:
    return (
        f'data_dir = "{tmp_path.as_posix()}"\n[store]\nflush_interval_s = 0.05\n\n'
        + device_toml("c", "logger", url, ADDRESS, extra, history="memory")
    )


def make_daemon(tmp_path: Path, url: str, extra: str = "") -> Daemon:
    return Daemon(parse_config(config_text(tmp_path, url, extra), "test.toml"))


async def wait_for(daemon: Daemon, condition: Callable[[], bool], timeout_s: float = 20) -> None:
    """Wait until `condition` holds, re-checking whenever the daemon accepts samples."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await daemon.wait_accepted(daemon.accepted + 1)
        await daemon.writer.flushed()


def caught_up(daemon: Daemon, logger: SimulatedLogger) -> Callable[[], bool]:
    (poller,) = daemon.pollers
    assert poller.follower is not None
    follower = poller.follower

    def done() -> bool:
        return bool(logger.memory) and follower.health.cursor == logger.memory[-1].sequence

    return done


def on_the_wire(record: Record) -> Record:
    """The record as the logger sends it (values in 0.01 steps)."""
    decoded = decode_record(DEFN, encode_record(DEFN, record))
    assert decoded is not None
    return decoded


def stored_records(daemon: Daemon) -> dict[str, list[StoredSample]]:
    return {
        channel: [
            s
            for s in daemon.store.history("c", [channel], 0, 2**62)
            if s.time_source is TimeSource.LOGGER
        ]
        for channel, _ in CHANNELS
    }


def assert_matches(stored: dict[str, list[StoredSample]], truth: list[Record]) -> None:
    """Every record once per channel, with the logger's own time and value exactly."""
    for channel, point in CHANNELS:
        rows = sorted(stored[channel], key=lambda s: s.sequence or 0)
        assert [r.sequence for r in rows] == [t.sequence for t in truth], channel
        for row, record in zip(rows, truth, strict=True):
            sent = on_the_wire(record).values[point]
            assert row.logger_time_us == record.timestamp * 1_000_000
            assert row.timestamp_us == record.timestamp * 1_000_000 - (row.clock_offset_us or 0)
            if math.isnan(sent):
                assert row.raw_value is None
            else:
                assert row.raw_value == pytest.approx(sent, abs=1e-9)


@pytest.fixture
async def small_memory(manual_clock: ManualClock) -> AsyncIterator[SimulatorHost]:
    """One logger on Modbus TCP whose ring memory holds 10 records only."""
    host = SimulatorHost(
        SimOptions(addresses=(ADDRESS,), seed=3, interval_s=10, capacity=10, rtu=False),
        clock=manual_clock,
    )
    await host.start()
    try:
        yield host
    finally:
        await host.stop()


async def test_records_taken_while_the_daemon_was_down_are_backfilled_once(
    tmp_path: Path, sim: SimulatorHost, manual_clock: ManualClock
) -> None:
    assert sim.tcp is not None
    logger = sim.loggers[ADDRESS]
    manual_clock.advance(100)  # records 1..11 before loggerd ever starts
    daemon = make_daemon(tmp_path, sim.tcp.url)
    await daemon.start()
    try:
        await wait_for(daemon, caught_up(daemon, logger))
        assert_matches(stored_records(daemon), list(logger.memory))
    finally:
        await daemon.stop()

    manual_clock.advance(300)  # loggerd is down: 30 more records, only in the logger
    logger.sync()  # (a logger takes its records when due; the simulator catches up on demand)
    assert logger.memory[-1].sequence == 41
    daemon = make_daemon(tmp_path, sim.tcp.url)
    await daemon.start()
    try:
        await wait_for(daemon, caught_up(daemon, logger))
        (poller,) = daemon.pollers
        assert poller.follower is not None
        assert poller.follower.health.records_downloaded == 30  # from where history ended
        assert_matches(stored_records(daemon), list(logger.memory))
        assert daemon.writer.duplicates == 0 and daemon.writer.conflicts == 0
        async with client(daemon) as http:
            health = (await http.get("/api/v1/health")).json()
            events = (await http.get("/api/v1/events", params={"chamber": "c"})).json()
            history = (
                await http.get(
                    "/api/v1/chambers/c/history",
                    params={"channel": "air", "start": "2026-01-01T00:00:00Z"},
                )
            ).json()
    finally:
        await daemon.stop()
    backfill = health["devices"][0]["backfill"]
    assert backfill["state"] == "following" and backfill["cursor"] == 41
    # A download's pace is served with it (none now: the download is done).
    assert backfill["read_rate_per_s"] is None and backfill["eta_s"] is None
    kinds = [e["kind"] for e in events["events"]]
    # 30 records are announced as a download, and its end too.
    assert "backfill_started" in kinds and "backfill_done" in kinds
    points = history["points"]
    assert len(points) == 41 and {p["time_source"] for p in points} == {"logger"}
    # (Sorted by corrected time, which here crosses between the two runs: the manual clock
    # stands still while the host's runs, so each connect measures another offset.)
    assert sorted(p["sequence"] for p in points) == list(range(1, 42))
    # The logger's own time is served beside the corrected one.
    assert points[0]["logger_time"].startswith("2026-05-28")  # the manual clock's epoch


async def test_a_wrapped_memory_leaves_an_explicit_gap(
    tmp_path: Path, small_memory: SimulatorHost, manual_clock: ManualClock
) -> None:
    assert small_memory.tcp is not None
    logger = small_memory.loggers[ADDRESS]
    manual_clock.advance(50)  # records 1..6
    daemon = make_daemon(tmp_path, small_memory.tcp.url)
    await daemon.start()
    try:
        await wait_for(daemon, caught_up(daemon, logger))
    finally:
        await daemon.stop()

    manual_clock.advance(200)  # records 7..26; the memory (10) keeps 17..26 only
    logger.sync()
    held = [r.sequence for r in logger.memory]
    assert held == list(range(17, 27))
    daemon = make_daemon(tmp_path, small_memory.tcp.url)
    await daemon.start()
    try:
        await wait_for(daemon, caught_up(daemon, logger))
        stored = stored_records(daemon)
        (gap,) = daemon.store.gaps("c")
        events = daemon.store.events("c", kinds=[EventKind.GAP])
        async with client(daemon) as http:
            gaps = (await http.get("/api/v1/chambers/c/gaps")).json()["gaps"]
            health = (await http.get("/api/v1/health")).json()
    finally:
        await daemon.stop()
    for channel, _ in CHANNELS:
        assert [s.sequence for s in sorted(stored[channel], key=lambda s: s.sequence or 0)] == [
            *range(1, 7),
            *range(17, 27),
        ]
    assert (gap.first_sequence, gap.last_sequence, gap.records) == (7, 16, 10)
    # The gap lies between the last record kept before it and the first after it.
    assert gap.start_us is not None and gap.end_us is not None
    by_sequence = {s.sequence: s for s in stored["air"]}
    before, after = by_sequence[6], by_sequence[17]
    assert gap.start_us == before.timestamp_us and gap.end_us == after.timestamp_us
    (event,) = events
    assert event.details["records"] == 10 and "lost" in event.message
    assert gaps == [
        {
            "chamber_id": "c",
            "device_id": "logger",
            "first_sequence": 7,
            "last_sequence": 16,
            "records": 10,
            "start": gaps[0]["start"],
            "end": gaps[0]["end"],
            "detected": gaps[0]["detected"],
        }
    ]
    assert health["devices"][0]["backfill"]["records_lost"] == 10


async def test_record_times_are_corrected_by_the_measured_clock_offset(tmp_path: Path) -> None:
    """A logger whose clock is 3600.25 s fast, on a clock that ticks in real time."""
    offset_s = 3600.25
    host = SimulatorHost(
        SimOptions(addresses=(ADDRESS,), interval_s=1, clock_offset_s=offset_s, rtu=False)
    )
    await host.start()
    try:
        assert host.tcp is not None
        logger = host.loggers[ADDRESS]
        daemon = make_daemon(tmp_path, host.tcp.url, "clock_offset_limit_s = 60\n")
        await daemon.start()
        try:
            (poller,) = daemon.pollers
            assert poller.follower is not None
            follower = poller.follower
            await wait_for(daemon, lambda: (follower.health.cursor or 0) >= 2)
            (check,) = daemon.store.clock_checks("c", "logger")
            stored = stored_records(daemon)["air"]
            events = daemon.store.events("c", kinds=[EventKind.CLOCK_OFFSET])
            truth = {r.sequence: r for r in logger.memory}
        finally:
            await daemon.stop()
    finally:
        await host.stop()
    # Timed at a tick of the logger's clock: known to a few round trips, not to a second.
    assert check.uncertainty_us < 100_000
    assert abs(check.offset_us - offset_s * 1e6) <= check.uncertainty_us + 2_000
    assert stored
    for s in stored:
        assert s.clock_offset_us == check.offset_us
        record = truth[s.sequence or 0]
        assert s.timestamp_us + check.offset_us == record.timestamp * 1_000_000
        # Corrected, the record's time is the host's time of the record (within a second,
        # as the logger stamps whole seconds), not an hour ahead.
        assert abs(s.timestamp_us / 1e6 - time.time()) < 30
    (event,) = events
    assert event.details["offset_s"] == pytest.approx(offset_s, abs=0.1)
    assert "loggerd clock set" in event.message


async def test_backfill_and_clock_set_by_hand(
    tmp_path: Path, sim: SimulatorHost, manual_clock: ManualClock
) -> None:
    """`loggerd backfill` and `loggerd clock set`, with the daemon stopped."""
    assert sim.tcp is not None
    logger = sim.loggers[ADDRESS]
    manual_clock.advance(300)  # records 1..31
    logger.sync()
    config = tmp_path / "loggerd.toml"
    config.write_text(config_text(tmp_path, sim.tcp.url), "utf-8")

    status = await asyncio.to_thread(
        main, ["backfill", "--config", str(config), "--device", "logger"]
    )
    assert status == 0
    daemon = make_daemon(tmp_path, sim.tcp.url)
    await daemon.open_history()  # the store only: nothing polls
    try:
        assert_matches(stored_records(daemon), list(logger.memory))
    finally:
        await daemon.stop()

    # Again from record 21's time: read again, stored once.
    since = logger.memory[20].timestamp
    status = await asyncio.to_thread(
        main,
        [
            "backfill",
            "--config",
            str(config),
            "--device",
            "logger",
            "--since",
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since)),
        ],
    )
    assert status == 0

    # The manual clock stands still, so the logger's clock is months behind the host's.
    assert abs(logger.clock_reading_s() - time.time()) > 1e6
    status = await asyncio.to_thread(
        main, ["clock", "set", "--config", str(config), "--device", "logger"]
    )
    assert status == 0
    assert abs(logger.clock_reading_s() - time.time()) < 3

    daemon = make_daemon(tmp_path, sim.tcp.url)
    await daemon.open_history()
    try:
        assert_matches(stored_records(daemon), list(logger.memory))  # still once each
        (event,) = daemon.store.events("c", kinds=[EventKind.CLOCK_SET])
        checks = daemon.store.clock_checks("c", "logger")
    finally:
        await daemon.stop()
    assert event.details["offset_before_s"] < -1e6
    assert abs(event.details["offset_after_s"]) < 3
    assert len(checks) >= 2  # before and after, beside the backfills' own checks


async def test_a_long_download_leaves_the_line_to_the_other_devices(
    tmp_path: Path, sim: SimulatorHost, manual_clock: ManualClock
) -> None:
    """Two loggers on one RS-485 line (emulated 19200 baud): while one downloads hundreds of
    records, the other is still polled, tick after tick."""
    assert sim.rtu is not None
    manual_clock.advance(2000)  # 201 records in each logger
    text = (
        f'data_dir = "{tmp_path.as_posix()}"\n[store]\nflush_interval_s = 0.05\n\n'
        + device_toml("c", "logger", sim.rtu.path, 1, "backfill_duty = 0.5\n", history="memory")
        + device_toml("c2", "other", sim.rtu.path, 2)
    ).replace("poll_interval_s = 0.05", "poll_interval_s = 0.2")
    daemon = Daemon(parse_config(text, "test.toml"))
    downloading, other = daemon.pollers
    assert downloading.follower is not None
    progress = downloading.follower.health
    await daemon.start()
    try:
        await wait_for(daemon, lambda: progress.records_downloaded >= 20)
        assert progress.state == "downloading" and progress.progress is not None
        polls_before = other.health.reads_ok
        await wait_for(daemon, lambda: progress.records_downloaded >= 60)
        assert progress.state == "downloading"  # still at it, and meanwhile:
        assert other.health.reads_ok >= polls_before + 3
        assert other.health.state == "ok" and other.health.reads_failed == 0
    finally:
        await daemon.stop()


async def test_a_clock_time_out_of_range_is_refused_before_anything_is_read(
    tmp_path: Path,
    sim: SimulatorHost,
    manual_clock: ManualClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`loggerd clock set --to 1999-…`: refused at once, no download, nothing stored."""
    assert sim.tcp is not None
    manual_clock.advance(300)  # records wait in the logger
    config = tmp_path / "loggerd.toml"
    config.write_text(config_text(tmp_path, sim.tcp.url), "utf-8")
    args = ["clock", "set", "--config", str(config), "--device", "logger"]
    status = await asyncio.to_thread(main, [*args, "--to", "1999-12-31T23:59:59Z"])
    assert status == 2
    assert "its clock cannot be set to 1999-12-31T23:59:59Z" in capsys.readouterr().err
    assert not (tmp_path / "loggerd.db").exists()  # not even the store was opened
