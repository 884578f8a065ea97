"""Keeps a logger's own records flowing into history, and watches its clock.

The logger records whether anyone listens or not; what it holds is the measurement of record.
After every connect (a start of loggerd, the end of a link outage) the follower asks where the
history of the device ends, then downloads the logger's memory from there up to the newest
record, a window at a time, within a share of each poll interval, so a download of days never
starves the live polls of this device or the other devices on its line. Records that the
logger's ring memory overwrote before they could be read become an explicit gap and an event.
Caught up, it asks the logger's memory again when the next record is due, not at every tick.

Each record's timestamp is the logger's clock corrected by the offset measured at the last
clock check; the sample keeps that offset, so the logger's own time is kept exactly.
Knows no SQL: where history ends, and the last clock check, come from a Ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TypeVar

from loggerd.acquisition.clock import (
    OffsetMeasurement,
    drift_ppm,
    measure_offset_queued,
    timed_read,
)
from loggerd.acquisition.ledger import (
    EPOCH_SHIFT,
    LOGGER_SEQUENCE,
    ClockPolicy,
    Emit,
    Ledger,
    Sink,
)
from loggerd.acquisition.pace import follow_pace, log_progress
from loggerd.acquisition.windows import Window, abandon, read_timed
from loggerd.core.errors import DeviceException, DriverError, LoggerdError
from loggerd.core.events import ClockCheck, Event, EventKind, Gap, LogItem, Severity
from loggerd.core.health import BackfillHealth
from loggerd.core.samples import Quality, Reading, Sample, TimeSource
from loggerd.drivers.base import LoggedRecord, MemoryDriver, MemoryRange
from loggerd.link.worker import LineWorker, Priority

log = logging.getLogger(__name__)
T = TypeVar("T")


# A download of more records than this is announced (log, event, progress in health). Fewer
# are the daemon following: the records of a tick, or of a short outage, read as they come.
# A download by hand is announced whatever its length (see MemoryFollower.by_hand).
ANNOUNCE_RECORDS = 20
# A download's progress is logged this often (it is always in /api/v1/health).
PROGRESS_LOG_S = 10.0
# Steps in a row without progress while records wait, before health says `stalled`.
STALLED_AFTER_STEPS = 10
# Records asked for per driver call (the driver may return fewer: one window's worth).
RECORDS_PER_READ = 100
# Records handed on together during a download (the windows of a step are gathered up to this).
HAND_ON_RECORDS = 100
# Windows of a download waiting on the line at once: the line goes on to the next while the
# loop takes the last, which it may do late (a hand-on, or another thread holding the GIL).
READ_AHEAD = 2
# A step ends this long before its share does: what it does after it stops reading, and the
# poller after it, must fit before the next tick, or the whole tick is missed.
END_MARGIN_S = 0.02
# How fast the expected time of a window (or of a hand-on) forgets a slow one, per window.
WINDOW_DECAY = 0.9
# A follower that has caught up looks at the logger's memory again when its next record is due,
# and at least this often (and once per logging interval): a memory cleared, one wrapped, or a
# logger that stopped recording is seen within that (see MemoryFollower._caught_up).
LOOK_AT_LEAST_EVERY_S = 60.0


class MemoryFollower:
    """One logger's memory: downloads what history lacks, checks the clock, finds gaps."""

    def __init__(
        self,
        chamber_id: str,
        device_id: str,
        driver: MemoryDriver,
        points_to_channels: Sequence[tuple[str, str]],  # (point, channel id)
        sink: Sink,
        emit: Emit,
        ledger: Ledger,
        now_us: Callable[[], int],
        policy: ClockPolicy | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        *,
        worker: LineWorker,
    ) -> None:
        self.chamber_id = chamber_id
        self.device_id = device_id
        self.driver = driver
        self.bindings = list(points_to_channels)
        self.sink = sink
        self.emit = emit
        self.ledger = ledger
        self.now_us = now_us
        self.policy = policy or ClockPolicy()
        self.monotonic = monotonic  # budgets, clock checks and a download's pace
        self.health = BackfillHealth()
        self._cursor_known = False
        self._clock: OffsetMeasurement | None = None
        self._clock_due = 0.0  # monotonic; 0: at the next step
        # Records wait for an offset measured since the device was (re)opened.
        self._clock_fresh = False
        # A clock check under way beside the polls (see _clock_in_background).
        self._clock_task: asyncio.Task[OffsetMeasurement] | None = None
        self._last_time_us: int | None = None  # corrected time of the cursor's record
        self._download_started = 0.0
        self._pace_from = (0.0, 0, 0)  # when, records downloaded, the logger's newest record
        self._by_hand = False
        # The first record of the last download announced (it stays when the download is done).
        self.download_first: int | None = None
        self._next_progress_log = 0.0
        self._pending_gap: tuple[int, int] | None = None
        self._epoch = 0  # see EPOCH_SHIFT
        self._cursor_logger_time_us: int | None = None  # the logger's time of the cursor
        self._verify = False  # check the cursor's record before going on (after a connect)
        self._start_at: int | None = None
        self._no_progress = 0  # steps in a row that read nothing while records wait
        # A download's windows asked for on the line, in order; one late at a step's end is
        # taken at the next step, and the records read before it then (see _download).
        self._reads: deque[Window] = deque()
        self._held: tuple[int, list[LoggedRecord]] | None = None
        self._window_records: int | None = None  # records the driver reads at once
        self._last_window = 0  # records the last window brought
        self._window_s = 0.0  # the line's time for a window (see WINDOW_DECAY)
        self._line_free = 0.0  # monotonic: when the line ended the last window
        self._hand_on_s = 0.0  # the time of a hand-on, likewise
        # Caught up: the logger's logging interval, learnt from two records in a row, and when
        # (monotonic) to look at its memory again; until then a step reads nothing.
        self._record_interval_us: int | None = None
        self._look_at = 0.0
        self._stalled = False
        # The thread of the device's line, where its requests queue with the live polls'.
        self.worker = worker
        # Whether a clock check may start now (the line's turn: see LineDownloads).
        self.may_check_clock: Callable[[], bool] = lambda: True
        # The driver call under way on the line: one stopping must let it finish before the
        # line is closed under it (see DevicePoller.aclose).
        self.inflight: asyncio.Future[object] | None = None

    async def _call(self, fn: Callable[..., T], *args: object, clock: bool = False) -> T:
        """A request to the logger, queued on its line behind live polls (a clock read goes
        before memory windows)."""
        priority = Priority.CLOCK if clock else Priority.BACKFILL
        future = asyncio.ensure_future(self.worker.call(priority, fn, *args))
        self.inflight = future  # type: ignore[assignment]
        return await asyncio.shield(future)

    @property
    def name(self) -> str:
        return f"{self.chamber_id}/{self.device_id}"

    def start_at(self, first: int) -> None:
        """Read from record `first` on, whatever history holds (`loggerd backfill --since`)."""
        self._start_at = first

    def by_hand(self) -> None:
        """A person's download (`loggerd backfill`, the one before `loggerd clock set`):
        announced and recorded as a backfill event whatever its length. The daemon's catch-ups
        of a few records are how it follows a logger (a tick's records, a short outage's) and
        would drown the events that matter; a person's download is an act in the chamber's
        record, like a clock set, and three records read by hand are as much one as forty."""
        self._by_hand = True

    def connected(self) -> None:
        """The device was (re)opened: check its clock, and that it is still the same memory,
        before reading records again."""
        self._clock_due = 0.0
        self._clock_fresh = False
        if self._clock_task is not None:
            self._clock_task.cancel()  # its reads went to the connection that failed
        self._verify = self.health.cursor is not None
        self._drop_reads()  # so did a window carried over; the records held are read again
        self._held = None
        self._look_at = 0.0

    def step_due(self, now: float | None = None) -> bool:
        """Whether a step would do anything: False while the follower has caught up, no record
        can be new yet and no clock check is due (the poller then starts none)."""
        now = self.monotonic() if now is None else now
        return not (now < self._look_at and now < self._clock_due and self._clock_task is None)

    async def step(self, budget_s: float) -> None:
        """Download what is new in the logger's memory, for at most about `budget_s`; caught
        up, nothing until its next record is due (see _caught_up).

        Raises the driver's errors (the poller counts them); a store that cannot say where
        history ends makes the follower wait (the records wait in the logger)."""
        now = self.monotonic()
        if not self.step_due(now):
            return  # caught up, and no record can be new yet (see _caught_up)
        self._look_at = 0.0
        deadline = now + budget_s
        h = self.health
        if not self._cursor_known and not await self._find_cursor():
            return  # the records wait in the logger until the store can say
        if self._by_hand:
            if self.monotonic() >= self._clock_due:  # a person waits: nothing else to serve
                await self._record_clock(await self._measure_clock())
        elif not await self._clock_in_background(now + budget_s / 2):
            return  # records wait for the offset that corrects their times
        if self._held is not None:  # read at the end of the last step: handed on first
            held_first, held = self._held
            self._held = None
            await self._hand_on(held_first, held)
        memory = await self._call(self.driver.memory_range)
        h.logger_oldest, h.logger_newest = memory.oldest, memory.newest
        if self._verify and h.cursor is not None:
            await self._verify_cursor(memory)
        first = await self._first_to_read(memory)
        if first is None or first > memory.newest:
            self._drop_reads()
            self._no_progress = 0
            await self.finish_download()
            self._caught_up()
            return
        cursor_before = h.cursor
        announce_over = 0 if self._by_hand else ANNOUNCE_RECORDS
        if h.download_from is None and memory.newest - first + 1 > announce_over:
            await self._start_download(first, memory.newest)
        first = await self._download(first, memory.newest, deadline)
        await self._stepped(first, memory.newest, cursor_before)
        if first > memory.newest and self._held is None:
            self._caught_up()

    def _caught_up(self) -> None:
        """Every record the logger held is read: no step need ask its memory again before its
        next record is due (its last record's time plus its logging interval, in the host's
        time by the clock offset, and the offset's uncertainty), and one that finds it not
        there yet looks again after as long as it is overdue. But at least once per logging
        interval and every LOOK_AT_LEAST_EVERY_S, whatever is due: a memory cleared or wrapped,
        or a logger that stopped, is noticed within that. Until the interval is known (two
        records in a row read), while the cursor's record is still to be checked after a
        connect, or for a download by hand, every step looks."""
        self._look_at = 0.0
        if self._by_hand or self._verify:
            return
        interval_us, last_us, clock = (
            self._record_interval_us,
            self._cursor_logger_time_us,
            self._clock,
        )
        if interval_us is None or last_us is None or clock is None:
            return
        due_us = last_us + interval_us - clock.offset_us + clock.uncertainty_us
        wait_s = abs(due_us - self.now_us()) / 1e6
        self._look_at = self.monotonic() + min(wait_s, interval_us / 1e6, LOOK_AT_LEAST_EVERY_S)

    async def _download(self, first: int, newest: int, deadline: float) -> int:
        """Read records `first`..`newest` while this step's share lasts (up to `deadline`) and
        hand them on; the first record not read.

        At least one read per step, however little of the tick is left: a download always
        moves on. Up to READ_AHEAD windows wait on the line, each from where the one before it
        is expected to end (the driver's window, learnt), so the line goes from one window to
        the next without waiting for the loop to ask; a window that did not end there makes
        the ones after it read again. A window is asked for only if it is expected to arrive,
        and what was read to be handed on, before the share ends: the share ends where the
        poller's next tick is due (backfill_duty 1.0), and a step that overran it would cost
        that whole tick, and its live poll. A window that is late all the same (a stall on
        the loop or the line) is not waited for past the share: it is taken at the next step,
        with the records read before it (the cursor moves only as records are handed on).
        """
        h = self.health
        cutoff = deadline - END_MARGIN_S
        reads = self._reads  # a window carried over from the last step comes first
        if reads and reads[0].first != first:
            self._drop_reads()
        # Windows read and not yet handed on (from record `batch_first`): gathered up to
        # HAND_ON_RECORDS, so a driver that reads a few records a window costs one spool
        # append and one batch of processing per hundred records, not per window.
        batch: list[LoggedRecord] = []
        batch_first = first
        taken = False  # a window read in this step (one at least)
        try:
            while True:
                self._ask_ahead(first, newest, cutoff, must=not taken and not reads)
                if not reads:
                    break
                head = reads[0]
                if not head.request.done():
                    if taken and not self._by_hand:  # not past the share's end
                        wait_s = cutoff - self.monotonic()
                        if wait_s > 0:
                            await asyncio.wait((head.request,), timeout=wait_s)
                        if not head.request.done():
                            break  # late: taken at the next step, with the batch
                    else:
                        await asyncio.wait((head.request,))
                reads.popleft()
                if reads:
                    self.inflight = reads[0].request  # type: ignore[assignment]
                taken = True
                try:
                    records, ended = head.request.result()
                except DriverError as exc:
                    self._drop_reads()
                    if batch:  # what was read is handed on before the error is
                        await self._hand_on(batch_first, batch)
                        batch = []
                    if not isinstance(exc, DeviceException) or exc.busy:
                        raise
                    # Refused: the record was overwritten since memory_range (a memory wrapping
                    # faster than we read). The next step finds the new oldest and the gap.
                    h.last_error = str(exc)
                    return first
                if not records:
                    self._drop_reads()
                    break
                if len(records) < head.count or head.count == RECORDS_PER_READ:
                    # As many as the driver reads at once: the size of two windows in a row (one
                    # short now and then, as at a record overwritten meanwhile, leaves it be).
                    if len(records) == self._last_window or self._window_records is None:
                        self._window_records = len(records)
                    self._last_window = len(records)
                first = records[-1].sequence + 1
                if reads and reads[0].first != first:
                    self._drop_reads()  # asked from where this window did not end
                # The line's time for the window: from when it could start (asked for, and the
                # line done with the one before) to its end. A window late once (a stall) is
                # not taken for the line's pace: the estimate follows a slower window at once
                # and a faster one over a few windows.
                began = max(head.asked, self._line_free)
                self._line_free = ended
                self._window_s = max(ended - began, self._window_s * WINDOW_DECAY)
                batch.extend(records)
                if len(batch) >= HAND_ON_RECORDS:
                    self._ask_ahead(first, newest, cutoff, must=False)
                    await asyncio.sleep(0)  # the windows asked for reach the line first
                    await self._hand_on(batch_first, batch)
                    batch_first, batch = first, []
                if h.download_from is not None and self.monotonic() >= self._next_progress_log:
                    self._next_progress_log = self.monotonic() + PROGRESS_LOG_S
                    log_progress(self.name, h)
        except BaseException:
            self._drop_reads()  # stopped, or failed: nothing is carried over
            raise
        if reads:  # one window late: the others behind it wait for it, on the line too
            while len(reads) > 1:
                abandon(reads.pop().request)
        if batch:
            if reads:  # the share is over: handed on first thing at the next step
                self._held = (batch_first, batch)
            else:
                await self._hand_on(batch_first, batch)
        return first

    def _ask_ahead(self, first: int, newest: int, cutoff: float, must: bool) -> None:
        """Queue windows on the line, from where those already asked for end: one if `must`,
        more while each is expected to arrive, and the records to be handed on, before
        `cutoff`. Beyond the first, only once the driver's window is known."""
        reads = self._reads
        while len(reads) < READ_AHEAD:
            if reads:
                if self._window_records is None:
                    return
                at = reads[-1].first + self._window_records
            else:
                at = first
            if at > newest:
                return
            expected = self.monotonic() + (len(reads) + 1) * self._window_s + self._hand_on_s
            if not must and expected >= cutoff:
                return
            must = False
            count = min(RECORDS_PER_READ, newest - at + 1)
            request = asyncio.ensure_future(
                self.worker.call(
                    Priority.BACKFILL,
                    read_timed,
                    self.driver.read_records,
                    self.monotonic,
                    at,
                    count,
                )
            )
            reads.append(Window(at, count, self.monotonic(), request))
            if len(reads) == 1:
                self.inflight = request  # type: ignore[assignment]

    def _drop_reads(self) -> None:
        """Windows asked for and no longer wanted: those behind the first are taken off the
        line (it takes a device's windows in turn, so they wait for the first; one that started
        all the same runs to its end, unreported); the first may be under way: it runs to its
        end, unreported, and `inflight` lets the poller wait for it."""
        reads = self._reads
        while len(reads) > 1:
            abandon(reads.pop().request)
        if reads:
            request = reads.pop().request
            self.inflight = request  # type: ignore[assignment]
            request.add_done_callback(lambda r: r.cancelled() or r.exception())

    async def _find_cursor(self) -> bool:
        """Where the device's history ends, from the store (False: it cannot say yet)."""
        h = self.health
        try:
            end = await self.ledger.cursor(self.chamber_id, self.device_id)
        except LoggerdError as exc:
            h.state = "waiting_for_store"
            h.last_error = f"cannot find where the history ends: {exc}"
            return False
        if end is not None:
            self._epoch = end.sequence >> EPOCH_SHIFT
            h.cursor = end.sequence & LOGGER_SEQUENCE
            self._last_time_us = end.timestamp_us
            self._cursor_logger_time_us = end.logger_time_us
            self._verify = True
        if self._start_at is not None:
            h.cursor, self._verify = self._start_at - 1, False
        self._cursor_known = True
        return True

    async def _stepped(self, first: int, newest: int, cursor_before: int | None) -> None:
        """After a step's reads: the download done or its pace, and a step that moved
        nothing counted towards `stalled`."""
        h = self.health
        if first > newest:
            await self.finish_download()
        elif h.download_from is not None:
            self._pace_from = follow_pace(self.name, h, newest, self._pace_from, self.monotonic())
        self._no_progress = 0 if h.cursor != cursor_before else self._no_progress + 1
        if not self._no_progress and self._stalled:
            self._stalled = False
            if h.state == "stalled":
                h.state = "following" if h.download_from is None else "downloading"
                self._pace_from = (self.monotonic(), h.records_downloaded, newest)
            h.last_error = None
        if self._no_progress >= STALLED_AFTER_STEPS:
            self._stalled = True
            h.state = "stalled"
            h.last_error = h.last_error or (
                f"record {first} is in the logger's memory but cannot be read"
            )

    async def _verify_cursor(self, memory: MemoryRange) -> None:
        """After a connect: is the last record stored still the logger's record of that number?
        If the logger holds it with another time, its memory started again (cleared, or another
        logger in its place), however far it has recorded since. (A memory now behind the
        cursor is caught by _first_to_read, at any step.)"""
        cursor = self.health.cursor
        assert cursor is not None
        if memory.oldest <= cursor <= memory.newest and self._cursor_logger_time_us is not None:
            records = await self._call(self.driver.read_records, cursor, 1)
            if records and records[0].sequence == cursor:
                if records[0].logger_time_us != self._cursor_logger_time_us:
                    await self._memory_reset(
                        f"its record {cursor} was taken at logger time "
                        f"{records[0].logger_time_us / 1e6:.0f} s, the stored one at "
                        f"{self._cursor_logger_time_us / 1e6:.0f} s"
                    )
            else:
                return  # not read this time: check again at the next step
        self._verify = False

    async def _memory_reset(self, why: str) -> None:
        h = self.health
        self._epoch += 1
        await self._event(
            EventKind.MEMORY_RESET,
            Severity.ERROR,
            f"{self.name}: the logger's memory started again ({why}): it was cleared, or "
            "another logger is in its place. Its records are stored as new ones (memory epoch "
            f"{self._epoch}); check the logger and its clock",
            {"stored_through": h.cursor, "epoch": self._epoch},
        )
        h.cursor = None
        self._cursor_logger_time_us = None
        self._verify = False  # nothing of the new memory is stored yet

    async def _first_to_read(self, memory: MemoryRange) -> int | None:
        h = self.health
        if memory.newest == 0:
            return None  # nothing recorded yet
        cursor = h.cursor
        if cursor is not None and memory.newest < cursor:
            await self._memory_reset(
                f"its newest record is {memory.newest}, but record {cursor} was read already"
            )
            cursor = None
        first = memory.oldest if cursor is None else cursor + 1
        if first < memory.oldest:
            self._pending_gap = (first, memory.oldest - 1)
            first = memory.oldest
        return first

    async def _hand_on(self, asked: int, records: list[LoggedRecord]) -> None:
        started = self.monotonic()
        await self._hand_on_now(asked, records)
        self._hand_on_s = max(self.monotonic() - started, self._hand_on_s * WINDOW_DECAY)

    async def _hand_on_now(self, asked: int, records: list[LoggedRecord]) -> None:
        h = self.health
        before = (h.cursor, self._cursor_logger_time_us)  # the record before these
        if self._pending_gap is None and records[0].sequence > asked:
            self._pending_gap = (asked, records[0].sequence - 1)
        # One hand-over per batch of windows: records in sequence order, each record's samples
        # together (the sink processes them together and spools them in one append).
        batch: list[Sample] = []
        for i, record in enumerate(records):
            if i and record.sequence != records[i - 1].sequence + 1:
                self._pending_gap = (records[i - 1].sequence + 1, record.sequence - 1)
            samples = self._samples(record)
            if self._pending_gap is not None:
                if batch:
                    await self.sink(batch)
                    batch = []
                await self._gap(*self._pending_gap, end_us=samples[0].timestamp_us)
                self._pending_gap = None
            batch.extend(samples)
            self._last_time_us = samples[0].timestamp_us
            self._cursor_logger_time_us = record.logger_time_us
        if batch:
            await self.sink(batch)
        h.cursor = records[-1].sequence
        h.records_downloaded += len(records)
        last = records[-1]
        previous = (
            (records[-2].sequence, records[-2].logger_time_us) if len(records) > 1 else before
        )
        # Two records in a row: the logging interval (unless the clock was set between them).
        if previous[0] == last.sequence - 1 and previous[1] is not None:
            interval_us = last.logger_time_us - previous[1]
            self._record_interval_us = interval_us if interval_us > 0 else None

    def _offset_us(self) -> int:
        return 0 if self._clock is None else self._clock.offset_us

    def _samples(self, record: LoggedRecord) -> list[Sample]:
        # Ten samples a record, a download's thousands of records on the loop: the fields are
        # passed by position (keywords cost a fifth more).
        offset = self._offset_us()
        timestamp = record.logger_time_us - offset
        sequence = (self._epoch << EPOCH_SHIFT) | record.sequence
        chamber_id, logger = self.chamber_id, TimeSource.LOGGER
        by_point = {r.point: r for r in record.readings}
        out = []
        for point, channel_id in self.bindings:
            r = by_point.get(point) or Reading(point, math.nan, math.nan, Quality.INVALID)
            out.append(
                Sample(
                    chamber_id,
                    channel_id,
                    timestamp,
                    r.value,
                    r.raw_value,
                    r.quality,
                    logger,
                    sequence,
                    None,  # calibration_version
                    None,  # uncertainty
                    None,  # method
                    offset,  # clock_offset_us
                )
            )
        return out

    async def _gap(self, first: int, last: int, end_us: int | None) -> None:
        h = self.health
        epoch = self._epoch << EPOCH_SHIFT
        gap = Gap(
            self.chamber_id,
            self.device_id,
            epoch | first,
            epoch | last,
            self._last_time_us,
            end_us,
            self.now_us(),
        )
        h.records_lost += gap.records
        message = (
            f"{self.name}: records {first}..{last} ({gap.records}) were overwritten in the "
            "logger's memory before loggerd could read them; they are lost and stored as a gap. "
            "Read the logger more often than its memory wraps, or enlarge its interval"
        )
        log.error("%s", message)
        await self.emit(
            [
                gap,
                Event(
                    gap.detected_us,
                    self.chamber_id,
                    self.device_id,
                    EventKind.GAP,
                    Severity.ERROR,
                    message,
                    {"first_sequence": first, "last_sequence": last, "records": gap.records},
                ),
            ]
        )

    async def _start_download(self, first: int, last: int) -> None:
        h = self.health
        h.state = "downloading"
        h.download_from, h.download_to = first, last
        self.download_first = first
        self._download_started = self.monotonic()
        self._pace_from = (self._download_started, h.records_downloaded, last)
        self._next_progress_log = self._download_started + PROGRESS_LOG_S
        how = " by hand" if self._by_hand else ""
        message = f"{self.name}: downloading records {first}..{last} from the logger's memory{how}"
        log.info("%s", message)
        details: dict[str, object] = {"first_sequence": first, "last_sequence": last}
        if self._by_hand:
            details["by_hand"] = True
        await self._event(EventKind.BACKFILL_STARTED, Severity.INFO, message, details)

    async def finish_download(self) -> None:
        """The download under way is done: say so (log, event) and follow. A step calls this
        when it has read up to the newest record; a download by hand ends when the person's
        command has read what it set out to read, even if the logger has recorded since."""
        h = self.health
        if h.download_from is not None:
            seconds = self.monotonic() - self._download_started
            records = (h.download_to or 0) - h.download_from + 1
            message = f"{self.name}: download done, {records} records in {seconds:.1f} s"
            log.info("%s", message)
            await self._event(
                EventKind.BACKFILL_DONE,
                Severity.INFO,
                message,
                {"records": records, "seconds": round(seconds, 3)},
            )
        h.state = "following"
        h.download_from = h.download_to = None
        h.read_rate_per_s = h.record_rate_per_s = h.eta_s = None

    async def aclose(self) -> None:
        """Stop a clock check under way (its read on the line, if any, runs to its end), and
        drop a window carried over for the next step (records held are read again)."""
        self._drop_reads()
        self._held = None
        task, self._clock_task = self._clock_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @property
    def clock_check_under_way(self) -> bool:
        """A clock check was started and its result is not yet taken."""
        return self._clock_task is not None

    @property
    def clock_check_reading(self) -> bool:
        """A clock check is still reading the logger's clock (its result not in yet)."""
        return self._clock_task is not None and not self._clock_task.done()

    async def clock_checked(self) -> None:
        """Wait until the clock check under way, if any, has ended (its result is taken at the
        next step)."""
        task = self._clock_task
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(task)

    async def _clock_in_background(self, wait_until: float) -> bool:
        """Start a clock check when one is due, or take the one under way once it is done; it
        runs beside the polls (a tick of the logger's clock is up to a few seconds away, and no
        poll waits for it). True when records may be read: the offset is fresh since the device
        was opened (a periodic check under way leaves the last offset in use meanwhile).

        Records that wait for the offset wait for it within the first half of this step's
        share (up to `wait_until`), not until the next step: a check that ends then is taken at
        once, and the records are read in the rest of the share. One that ends later is taken
        at the next step: what is left of the share would not be enough for the records, and a
        step never holds the device's next poll."""
        task = self._clock_task
        if task is None:
            if self.monotonic() < self._clock_due or not self.may_check_clock():
                return self._clock_fresh
            task = self._clock_task = asyncio.create_task(
                self._measure_clock(), name=f"clock-{self.name}"
            )
        if not task.done():
            if self._clock_fresh or (wait_s := wait_until - self.monotonic()) <= 0:
                return self._clock_fresh
            await asyncio.wait((task,), timeout=wait_s)
            if not task.done():
                return False  # taken at the next step, records read from there
        self._clock_task = None
        if task.cancelled():  # by connected(): a new check at the next step
            return False
        await self._record_clock(task.result())  # the driver's error, if any, is raised here
        return True

    async def _measure_clock(self) -> OffsetMeasurement:
        """A bounded number of clock reads, each a request of its own on the line, timed on
        the line's thread (waiting in its queue is no round trip)."""
        return await measure_offset_queued(
            lambda: self._call(timed_read, self.driver.read_clock, self.now_us, clock=True),
            self.now_us,
            self.driver.clock_resolution_s,
        )

    async def _record_clock(self, m: OffsetMeasurement) -> None:
        h = self.health
        previous = self._clock
        if previous is None:
            try:
                stored = await self.ledger.last_clock_check(self.chamber_id, self.device_id)
            except LoggerdError:
                stored = None
            if stored is not None:
                previous = OffsetMeasurement(
                    stored.utc_us, stored.offset_us, stored.uncertainty_us, stored.rtt_us, 0, True
                )
        self._clock = m
        self._clock_fresh = True
        self._clock_due = self.monotonic() + self.policy.check_interval_s
        h.clock_offset_s = m.offset_us / 1e6
        h.clock_uncertainty_s = m.uncertainty_us / 1e6
        h.clock_checked_utc_us = m.utc_us
        items: list[LogItem] = [
            ClockCheck(
                self.chamber_id, self.device_id, m.utc_us, m.offset_us, m.uncertainty_us, m.rtt_us
            )
        ]
        if abs(m.offset_us) / 1e6 > self.policy.offset_limit_s:
            items.append(
                Event(
                    m.utc_us,
                    self.chamber_id,
                    self.device_id,
                    EventKind.CLOCK_OFFSET,
                    Severity.WARNING,
                    f"{self.name}: the logger's clock is {m.offset_us / 1e6:+.3f} s "
                    f"(± {m.uncertainty_us / 1e6:.3f} s) off the host's, beyond the "
                    f"{self.policy.offset_limit_s} s limit. Record times are corrected; to "
                    "set the logger's clock run `loggerd clock set`",
                    {"offset_s": m.offset_us / 1e6, "uncertainty_s": m.uncertainty_us / 1e6},
                )
            )
        span_s = 0.0 if previous is None else (m.utc_us - previous.utc_us) / 1e6
        if previous is not None and span_s >= self.policy.min_drift_span_s:
            drift = drift_ppm(previous.utc_us, previous.offset_us, m.utc_us, m.offset_us)
            resolution = (previous.uncertainty_us + m.uncertainty_us) / (span_s * 1e6) * 1e6
            h.clock_drift_ppm = drift
            if abs(drift) - resolution > self.policy.drift_limit_ppm:
                items.append(
                    Event(
                        m.utc_us,
                        self.chamber_id,
                        self.device_id,
                        EventKind.CLOCK_DRIFT,
                        Severity.WARNING,
                        f"{self.name}: the logger's clock drifts {drift:+.0f} ppm "
                        f"(± {resolution:.0f}) over {span_s:.0f} s, beyond the "
                        f"{self.policy.drift_limit_ppm} ppm limit; check its clock battery "
                        "or set it with `loggerd clock set`",
                        {"drift_ppm": drift, "span_s": span_s},
                    )
                )
        await self.emit(items)

    async def _event(
        self, kind: EventKind, severity: Severity, message: str, details: dict[str, object]
    ) -> None:
        await self.emit(
            [
                Event(
                    self.now_us(), self.chamber_id, self.device_id, kind, severity, message, details
                )
            ]
        )
