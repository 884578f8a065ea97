"""The follower tells a logger whose memory started again from the one it was reading, and a
download that cannot catch up from one that will."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import pytest

from loggerd.acquisition.follower import (
    HAND_ON_RECORDS,
    RECORDS_PER_READ,
    STALLED_AFTER_STEPS,
    LogItem,
    MemoryFollower,
)
from loggerd.acquisition.ledger import EPOCH_SHIFT, HistoryEnd
from loggerd.acquisition.pace import PACE_SPAN_S
from loggerd.core.errors import NoReply
from loggerd.core.events import ClockCheck, Event, EventKind
from loggerd.core.samples import Sample
from loggerd.core.times import utc_now_us
from loggerd.drivers.base import LoggedRecord
from loggerd.link.lines import LinePool
from loggerd.link.worker import LineWorker
from loggerd_sim.driver import SimulatedLoggerConfig, SimulatedLoggerDriver
from loggerd_sim.logger import ManualClock


class Ledger:
    def __init__(self, end: HistoryEnd | None) -> None:
        self.end = end

    async def cursor(self, chamber_id: str, device_id: str) -> HistoryEnd | None:
        return self.end

    async def last_clock_check(self, chamber_id: str, device_id: str) -> ClockCheck | None:
        return None


class Monotonic:
    """The follower's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.s = 1000.0

    def __call__(self) -> float:
        return self.s


_WORKERS: list[LineWorker] = []


def line_worker() -> LineWorker:
    """A line thread for one test's follower, stopped when the test ends."""
    worker = LineWorker("test")
    _WORKERS.append(worker)
    return worker


@pytest.fixture(autouse=True)
def stop_line_workers() -> Iterator[None]:
    yield
    while _WORKERS:
        _WORKERS.pop().stop()


class Follow:
    """A follower of an in-process simulated logger (10 s interval) on a manual clock."""

    def __init__(
        self,
        end: HistoryEnd | None,
        seconds: float,
        interval_s: int = 10,
        now_us: Callable[[], int] = utc_now_us,
    ) -> None:
        self.clock = ManualClock()
        self.monotonic = Monotonic()
        self.driver = SimulatedLoggerDriver(
            SimulatedLoggerConfig(interval_s=interval_s, channel_count=1),
            LinePool(),
            clock=self.clock,
        )
        self.driver.open()
        self.clock.advance(seconds)
        self.samples: list[Sample] = []
        self.items: list[LogItem] = []
        self.follower = MemoryFollower(
            "c",
            "d",
            self.driver,
            [("temperature_1", "t1")],
            self._sink,
            self._emit,
            Ledger(end),
            now_us,
            monotonic=self.monotonic,
            worker=line_worker(),
        )

    async def _sink(self, batch: list[Sample]) -> None:
        self.samples.extend(batch)

    async def _emit(self, items: Sequence[LogItem]) -> None:
        self.items.extend(items)

    async def step(self, budget_s: float) -> None:
        """One step of the follower as the poller takes it, and, when that step only started
        the clock check that records wait for (it runs beside the polls), the step after it."""
        await self.follower.step(budget_s)
        if self.follower.clock_check_under_way:
            await self.follower.clock_checked()
            await self.follower.step(budget_s)

    def events(self, kind: EventKind) -> list[Event]:
        return [i for i in self.items if isinstance(i, Event) and i.kind is kind]

    def logger_time_us(self, sequence: int) -> int:
        (record,) = self.driver.read_records(sequence, 1)
        return record.logger_time_us


async def test_the_same_memory_goes_on_from_the_stored_record() -> None:
    f = Follow(None, 115)  # records 1..12
    time_5 = f.logger_time_us(5)
    f.follower.ledger = Ledger(HistoryEnd(5, time_5, time_5))
    await f.step(5)
    assert [s.sequence for s in f.samples] == list(range(6, 13))
    assert not f.events(EventKind.MEMORY_RESET)


async def test_a_memory_that_started_again_and_recorded_past_the_cursor_is_read_whole() -> None:
    """Stored through record 5 of the old memory; the new one holds 1..12, so nothing in the
    numbers alone gives it away: record 5's time does."""
    f = Follow(HistoryEnd(5, 1_700_000_000_000_000, 1_700_000_000_000_000), 115)
    await f.step(5)
    (event,) = f.events(EventKind.MEMORY_RESET)
    assert event.details["epoch"] == 1 and "started again" in event.message
    # Stored as new records, in epoch 1: never taken for the old records 1..5.
    assert [s.sequence for s in f.samples] == [(1 << EPOCH_SHIFT) | n for n in range(1, 13)]
    assert f.follower.health.cursor == 12


async def test_a_memory_behind_the_cursor_started_again() -> None:
    f = Follow(HistoryEnd((2 << EPOCH_SHIFT) | 40, 0, 0), 25)  # epoch 2, record 40; now 1..3
    await f.step(5)
    (event,) = f.events(EventKind.MEMORY_RESET)
    assert event.details["epoch"] == 3
    assert [s.sequence for s in f.samples] == [(3 << EPOCH_SHIFT) | n for n in (1, 2, 3)]


async def test_reads_that_make_no_progress_are_reported_as_stalled() -> None:
    f = Follow(None, 115)
    f.driver.read_records = lambda first, count: []  # type: ignore[method-assign]
    h = f.follower.health
    for _ in range(STALLED_AFTER_STEPS - 1):
        await f.step(0)
    assert h.state != "stalled"
    await f.step(0)
    assert h.state == "stalled" and h.last_error is not None and "record 1" in h.last_error
    del f.driver.read_records  # readable again: the download goes on, and health says so
    await f.step(5)
    assert h.state == "following" and h.cursor == 12 and h.last_error is None


async def test_a_download_slower_than_the_logger_records_says_it_is_behind() -> None:
    """Each second of the line reads one window of records (a step of no budget: one read),
    while the logger takes 150 records a second: the download cannot catch up, and health
    says so with both rates, not a progress of 1.0 at a cursor far behind the newest."""
    f = Follow(None, 1000, interval_s=1)  # records 1..1001
    h = f.follower.health
    await f.step(0)
    assert h.state == "downloading" and (h.download_from, h.download_to) == (1, 1001)
    for _ in range(int(PACE_SPAN_S)):
        f.monotonic.s += 1
        f.clock.advance(150)
        await f.step(0)
    assert h.state == "behind"
    # 11 windows read (the first at the start) and 1500 records taken in 10 s.
    assert h.read_rate_per_s == 11 * RECORDS_PER_READ / PACE_SPAN_S
    assert h.record_rate_per_s == 150
    assert h.eta_s is None  # it never ends at this pace
    assert h.cursor == 11 * RECORDS_PER_READ
    assert h.download_to == h.logger_newest == 2501  # the end follows the logger's newest
    assert h.progress == (h.cursor - 1 + 1) / 2501  # about 0.44, and falling

    # The logger slows down to 50 a second (or the line speeds up): the download gains.
    for _ in range(int(PACE_SPAN_S)):
        f.monotonic.s += 1
        f.clock.advance(50)
        await f.step(0)
    assert h.state == "downloading" and h.record_rate_per_s == 50
    assert h.read_rate_per_s == RECORDS_PER_READ
    assert h.eta_s == (h.logger_newest - h.cursor) / (RECORDS_PER_READ - 50)
    while h.state != "following":
        await f.step(0)
    assert h.cursor == h.logger_newest and h.eta_s is None and h.read_rate_per_s is None
    (done,) = f.events(EventKind.BACKFILL_DONE)
    assert done.details["records"] == h.cursor  # every record it read, not the first 1001


async def test_a_clock_check_runs_beside_the_steps_and_records_wait_for_it() -> None:
    """The clock check's reads are spaced over up to a few seconds of the logger's clock: a step
    waits for it no longer than the first half of its share of the tick and returns (the
    poller's next poll is not held), and records are read only once the offset that corrects
    their times has been measured."""
    f = Follow(None, 115)  # records 1..12
    gate = threading.Event()
    read_clock = f.driver.read_clock

    def held_clock() -> float:
        gate.wait(timeout=30)  # bounded: a failing test still lets the line's thread stop
        return read_clock()

    f.driver.read_clock = held_clock  # type: ignore[method-assign]
    started = time.monotonic()
    await f.follower.step(0.1)  # returns while the first clock read is still held on the line
    assert time.monotonic() - started < 5
    assert f.follower.clock_check_under_way and f.samples == []
    await f.follower.step(0.1)
    assert f.samples == []  # still no offset: still no records
    gate.set()
    await f.follower.clock_checked()
    await f.follower.step(5)
    assert not f.follower.clock_check_under_way
    assert [s.sequence for s in f.samples] == list(range(1, 13))
    (check,) = [i for i in f.items if isinstance(i, ClockCheck)]
    assert f.follower.health.clock_checked_utc_us == check.utc_us


async def test_a_step_takes_the_clock_check_as_soon_as_it_ends_and_reads_on() -> None:
    """A check that ends in the first half of the step's share is taken there: the records are
    read in the rest of that share, not a tick later. (The logger's clock here stands still, so
    the check ends a second after its first read, with the one-read estimate.)"""
    f = Follow(None, 115)  # records 1..12
    await f.follower.step(5)  # the manual monotonic clock stands still: 2.5 s of real time
    assert not f.follower.clock_check_under_way
    assert [s.sequence for s in f.samples] == list(range(1, 13))
    (check,) = [i for i in f.items if isinstance(i, ClockCheck)]
    assert all(s.clock_offset_us == check.offset_us for s in f.samples)


async def test_a_step_leaves_a_window_that_would_overrun_its_budget_for_the_next_step() -> None:
    """Each window takes 0.3 s of the line: a step of 1 s reads three (ending at 0.9 s), not a
    fourth that would end at 1.2 s, past the poller's next tick; the next step goes on."""
    f = Follow(None, 10_000, interval_s=1)  # records 1..10001: many windows to read
    read = f.driver.read_records

    def slow_read(first: int, count: int) -> list[LoggedRecord]:
        f.monotonic.s += 0.3
        return read(first, count)

    f.driver.read_records = slow_read  # type: ignore[method-assign]
    h = f.follower.health
    await f.step(1.0)
    assert h.cursor == 3 * RECORDS_PER_READ
    await f.step(1.0)
    assert h.cursor == 6 * RECORDS_PER_READ
    await f.step(0.0)  # no budget left at all: still one window, a download always moves on
    assert h.cursor == 7 * RECORDS_PER_READ


async def test_the_next_window_is_read_while_one_is_handed_on() -> None:
    """Processing and spooling a window overlap the line's reading of the next: the sink of the
    first window sees the driver asked for the second before it returns."""
    f = Follow(None, 1_000, interval_s=1)  # records 1..1001
    read = f.driver.read_records
    asked: list[int] = []
    second_asked = threading.Event()

    def watched_read(first: int, count: int) -> list[LoggedRecord]:
        asked.append(first)
        if len(asked) == 2:
            second_asked.set()
        return read(first, count)

    f.driver.read_records = watched_read  # type: ignore[method-assign]
    seen_while_handing_on: list[bool] = []

    async def sink(batch: list[Sample]) -> None:
        if not seen_while_handing_on:
            seen_while_handing_on.append(await asyncio.to_thread(second_asked.wait, 5))
        f.samples.extend(batch)

    f.follower.sink = sink
    await f.step(1.0)  # the manual monotonic clock stands still: the step reads it all
    assert seen_while_handing_on == [True]
    assert asked == list(range(1, 1002, RECORDS_PER_READ))
    assert [s.sequence for s in f.samples] == list(range(1, 1002))


async def test_small_windows_are_handed_on_together_and_what_was_read_before_an_error() -> None:
    """A driver that reads five records a window: the sink gets them a hundred at a time, and
    a read that fails hands on the windows read before it, then raises."""
    f = Follow(None, 1_000, interval_s=1)  # records 1..1001
    read = f.driver.read_records
    fail_at = [10**9]

    def small_windows(first: int, count: int) -> list[LoggedRecord]:
        if first >= fail_at[0]:
            raise NoReply("the logger stopped answering")
        return read(first, min(count, 5))

    f.driver.read_records = small_windows  # type: ignore[method-assign]
    handed_on: list[list[int]] = []

    async def sink(batch: list[Sample]) -> None:
        handed_on.append(sorted({s.sequence or 0 for s in batch}))
        f.samples.extend(batch)

    f.follower.sink = sink
    fail_at[0] = 336  # the window from 336 on fails: 67 windows of five were read
    with pytest.raises(NoReply):
        await f.step(1.0)
    assert [len(b) for b in handed_on] == [HAND_ON_RECORDS] * 3 + [35]
    assert f.follower.health.cursor == 335
    fail_at[0] = 10**9
    await f.step(1.0)  # on from record 336, to the end
    assert [s.sequence for s in f.samples] == list(range(1, 1002))
    assert f.follower.health.cursor == 1001


def small_windows(f: Follow, size: int = 5) -> list[int]:
    """The driver reads `size` records a window (as the reference Modbus logger reads five);
    the first record of each window asked for, in the order the line read them."""
    read = f.driver.read_records
    asked: list[int] = []

    def windows(first: int, count: int) -> list[LoggedRecord]:
        asked.append(first)
        return read(first, min(count, size))

    f.driver.read_records = windows  # type: ignore[method-assign]
    return asked


async def test_the_line_reads_the_windows_ahead_without_waiting_for_the_loop() -> None:
    """Two windows wait on the line, each from where the one before it will end (the driver's
    window, learnt from the first): while the loop is held handing a hundred records on, the
    line reads both, and no window is read twice."""
    f = Follow(None, 1_000, interval_s=1)  # records 1..1001
    asked = small_windows(f)
    asked_after_hold: list[int] = []
    windows = f.driver.read_records
    second_ahead = threading.Event()  # the window from 106 has been read on the line

    def reading(first: int, count: int) -> list[LoggedRecord]:
        records = windows(first, count)
        if first == 106:
            second_ahead.set()
        return records

    f.driver.read_records = reading  # type: ignore[method-assign]

    async def sink(batch: list[Sample]) -> None:
        if not asked_after_hold:
            # The loop held (a blocking wait: nothing can ask the line for anything meanwhile)
            # until the line has read the second window ahead, or for 20 s if it never does.
            second_ahead.wait(20)
            asked_after_hold.extend(asked)
        f.samples.extend(batch)

    f.follower.sink = sink
    await f.step(1.0)  # the manual monotonic clock stands still: the step reads it all
    # Records 1..100 handed on; windows 101.. and 106.. were waiting, and were read.
    assert asked_after_hold == list(range(1, 107, 5))
    assert asked == list(range(1, 1002, 5))
    assert [s.sequence for s in f.samples] == list(range(1, 1002))


async def test_a_window_that_ends_short_has_the_one_asked_after_it_read_again() -> None:
    """A window asked for ahead starts where the one before it was expected to end; when that
    one ends short (here once, at record 53), the window asked from 56 is not taken: reading
    goes on from 54, and every record is handed on once, with no gap."""
    f = Follow(None, 1_000, interval_s=1)  # records 1..1001
    asked = small_windows(f)
    read = f.driver.read_records

    def short_once(first: int, count: int) -> list[LoggedRecord]:
        records = read(first, count)
        return records[:3] if first == 51 else records

    f.driver.read_records = short_once  # type: ignore[method-assign]
    await f.step(1.0)
    assert [s.sequence for s in f.samples] == list(range(1, 1002))
    assert not f.events(EventKind.GAP)
    # The window from 56 may have been read already (the line goes on to it at once); it is
    # not read again: from 54 on, the windows follow each other.
    at_54 = asked.index(54)
    assert asked[:at_54] in (list(range(1, 52, 5)), [*range(1, 52, 5), 56])
    assert asked[at_54:] == list(range(54, 1002, 5))


async def test_a_window_late_at_the_end_of_the_share_is_taken_at_the_next_step() -> None:
    """A window that stalls on the line (the loop or the line held up) is not waited for past
    the step's share, which would cost the poller's next tick: the step returns with it still
    under way, holds the records read since the last hand-on, and the next step takes both,
    without reading the window again."""
    f = Follow(None, 1_000, interval_s=1)  # records 1..1001
    await f.step(5)  # the clock check, and records 1..1001
    f.clock.advance(300)  # records 1002..1301
    f.monotonic.s += 300  # past the next look of a follower that caught up
    asked = small_windows(f)
    read = f.driver.read_records
    stall = threading.Event()

    def stalled(first: int, count: int) -> list[LoggedRecord]:
        if first == 1127:
            stall.wait(timeout=30)  # bounded: a failing test still lets the line's thread stop
        return read(first, count)

    f.driver.read_records = stalled  # type: ignore[method-assign]
    h = f.follower.health
    started = time.monotonic()
    await f.follower.step(0.3)
    assert time.monotonic() - started < 5 and not stall.is_set()
    assert h.cursor == 1101  # 1002..1101 handed on; 1102..1126 held
    stall.set()
    await f.follower.step(5)
    assert [s.sequence for s in f.samples] == list(range(1, 1302))
    assert asked.count(1127) == 1 and asked.count(1132) == 1
    assert h.cursor == 1301


class HostClock:
    """The host's clock, moved on by the test beside the logger's."""

    def __init__(self) -> None:
        self.ahead_s = 0.0

    def __call__(self) -> int:
        return utc_now_us() + round(self.ahead_s * 1e6)


async def test_a_follower_that_caught_up_looks_at_the_memory_when_the_next_record_is_due() -> None:
    """Caught up, a follower does not ask the logger's memory at every tick: it looks again
    when the next record is due (its last record's time plus the logging interval, learnt,
    in the host's time by the clock offset), and reads it then."""
    host = HostClock()
    f = Follow(None, 115, now_us=host)  # records 1..12, one every 10 s; the 13th 5 s on
    await f.step(5)
    h = f.follower.health
    assert h.cursor == 12
    looks = count_calls(f.driver, "memory_range")
    looked_at, read_at = [], {}
    # To 37 s: the 16th record, taken at 35 s, may be read up to two ticks later (the look
    # is aimed by the measured offset's uncertainty, which a loaded host makes larger).
    for second in range(1, 38):
        host.ahead_s += 1
        f.monotonic.s += 1
        f.clock.advance(1)
        before, cursor = looks[0], h.cursor
        await f.follower.step(0.5)
        if looks[0] > before:
            looked_at.append(second)
        if h.cursor != cursor:
            read_at[h.cursor] = second
    # Records 13..16, taken at 5, 15, 25 and 35 s, each read within a tick or two of it.
    assert set(read_at) == {13, 14, 15, 16}
    for sequence, second in read_at.items():
        assert 0 <= second - (5 + 10 * (sequence - 13)) <= 2
    assert len(looked_at) <= 3 * len(read_at)  # not 35: once or twice a record
    assert [s.sequence for s in f.samples] == list(range(1, 17))


async def test_a_follower_that_caught_up_notices_a_stopped_logger_and_a_new_memory() -> None:
    """A logger that stopped recording is still looked at once per logging interval at least
    (after looking more often while its record is only a little late), and a memory that
    started again (another logger in its place) is noticed at the next look."""
    host = HostClock()
    f = Follow(None, 115, now_us=host)  # records 1..12, one every 10 s
    await f.step(5)
    looks = count_calls(f.driver, "memory_range")
    looked_at = []
    for second in range(1, 61):  # the logger's clock stands still: it records nothing
        host.ahead_s += 1
        f.monotonic.s += 1
        before = looks[0]
        await f.follower.step(0.5)
        if looks[0] > before:
            looked_at.append(second)
    assert f.follower.health.cursor == 12
    assert looked_at and looked_at[0] <= 10
    assert all(b - a <= 10 for a, b in itertools.pairwise([0, *looked_at, 60]))
    assert len(looked_at) <= 15

    # Another logger in its place, just started: its memory holds record 1.
    f.driver._clock, f.driver._logger = ManualClock(), None
    for _ in range(10):
        host.ahead_s += 1
        f.monotonic.s += 1
        await f.follower.step(0.5)
        if f.events(EventKind.MEMORY_RESET):
            break
    assert f.events(EventKind.MEMORY_RESET)


def count_calls(driver: SimulatedLoggerDriver, name: str) -> list[int]:
    """Count the driver's calls of `name` (in the one-element list returned)."""
    calls = [0]
    method = getattr(driver, name)

    def counted(*args: object) -> object:
        calls[0] += 1
        return method(*args)

    setattr(driver, name, counted)
    return calls
