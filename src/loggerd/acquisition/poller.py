"""One device polled on a fixed schedule, its samples handed on. Knows no SQL and no HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from loggerd.acquisition.follower import MemoryFollower
from loggerd.acquisition.ledger import Sink
from loggerd.acquisition.line_gate import LineGate, Turn
from loggerd.core.backoff import Backoff
from loggerd.core.errors import DeviceException, DriverError, LinkError, NoReply, ProtocolError
from loggerd.core.health import DeviceHealth
from loggerd.core.samples import Quality, Reading, Sample, TimeSource
from loggerd.core.times import utc_now_us
from loggerd.drivers.base import Driver
from loggerd.link.worker import LineWorker, Priority

log = logging.getLogger(__name__)

LATE_S = 0.25  # a poll that starts later than this after its tick is late
LATENESS_WINDOW = 600  # polls the lateness figures in health are taken over


CLOCK_CHECKS_AT_ONCE = 4  # clock checks reading on one line at most


class LineDownloads:
    """The memory followers of one line: how many are downloading now, and whose turn it is
    to check its logger's clock.

    Every poll on the line asks the count, so it is taken at most once per `every_s` for all
    of them (fifty devices to a line counted fifty followers at each of their polls). At most
    `clock_checks_at_once` clock checks read on the line at once (one whose reads are done
    gives up its turn at once, its result taken at its follower's next step): a check is a
    dozen reads over a second or so, and fifty loggers on one gateway all connecting at
    start-up would otherwise put six hundred reads on the line beside its fifty live polls a
    second. The others' records wait in their loggers until their turn (nothing is lost)."""

    def __init__(
        self,
        followers: Sequence[MemoryFollower] = (),
        every_s: float = 0.5,
        monotonic: Callable[[], float] = time.monotonic,
        clock_checks_at_once: int = CLOCK_CHECKS_AT_ONCE,
    ) -> None:
        self.followers: list[MemoryFollower] = []
        self.every_s = every_s
        self.monotonic = monotonic
        self.clock_checks_at_once = clock_checks_at_once
        self._counted = (-math.inf, 0)
        for follower in followers:
            self.append(follower)

    def append(self, follower: MemoryFollower) -> None:
        self.followers.append(follower)
        self._counted = (-math.inf, 0)
        follower.may_check_clock = self.clock_turn

    def clock_turn(self) -> bool:
        """Whether one more clock check may start on the line now."""
        reading = sum(f.clock_check_reading for f in self.followers)
        return reading < self.clock_checks_at_once

    def under_way(self) -> int:
        at, count = self._counted
        now = self.monotonic()
        if now - at >= self.every_s:
            count = sum(f.health.state in ("downloading", "behind") for f in self.followers)
            self._counted = (now, count)
        return count


@dataclass(frozen=True)
class ChannelBinding:
    """Which device point feeds which chamber channel."""

    channel_id: str
    point: str


@dataclass(frozen=True)
class PollPolicy:
    """How hard to try one device, and how long to leave it alone when it stays silent."""

    retries: int = 1  # extra attempts within one poll after a timeout or a bad frame
    busy_retry_delay_s: float = 0.05  # wait before retrying after exception 06 (busy)
    quarantine_after: int = 3  # failed polls in a row before the device is quarantined
    backoff_initial_s: float = 5.0
    backoff_max_s: float = 300.0
    # Each back-off shortened by up to this share, at random: dead devices on one line are
    # probed at spread instants, not all in one tick after an outage.
    backoff_jitter: float = 0.2


class DevicePoller:
    """One device: open it, read it every poll_interval_s on a drift-free schedule.

    Ticks fall at t0 + k * interval on the event loop's monotonic clock, so a slow read never
    shifts later ones; a read that overruns skips the ticks it covered (counted as missed).
    A failed read yields one sample per channel with value NaN and a quality flag. After
    `quarantine_after` failed polls in a row the device is left alone for a back-off period
    (doubling up to backoff_max_s), with missing samples and no I/O, and then probed once:
    a dead device costs the others on its line at most one timeout per back-off period.
    On a line shared with other devices, `line_gate` may quarantine the line as a whole when
    none of them answers (see line_gate): then no device on it sends, one probe a period
    excepted, and each of their ticks is recorded as a sample of quality `skipped`.
    """

    def __init__(
        self,
        chamber_id: str,
        device_id: str,
        driver: Driver,
        bindings: Sequence[ChannelBinding],
        interval_s: float,
        sink: Sink,
        now_us: Callable[[], int] = utc_now_us,
        policy: PollPolicy | None = None,
        follower: MemoryFollower | None = None,
        live_sink: Sink | None = None,
        backfill_duty: float = 0.5,
        worker: LineWorker | None = None,
        line_followers: Sequence[MemoryFollower] | LineDownloads | None = None,
        line_gate: LineGate | None = None,
    ) -> None:
        self.chamber_id = chamber_id
        self.device_id = device_id
        self.name = f"{chamber_id}/{device_id}"
        self.driver = driver
        self.bindings = list(bindings)
        self.interval_s = interval_s
        self.sink = sink
        self.now_us = now_us
        self.policy = policy or PollPolicy()
        self.health = DeviceHealth()
        # A logger with a memory of its own: its records are the history (the follower reads
        # them into `sink`) and live reads go to `live_sink`, the live view only.
        self.follower = follower
        self.live_sink = live_sink
        self.backfill_duty = backfill_duty
        self._opened = False
        self._reopened = False
        p = self.policy
        self._backoff = Backoff(p.backoff_initial_s, p.backoff_max_s, p.backoff_jitter)
        self._quarantine_until = 0.0  # on the monotonic clock
        self._group_every: dict[str, int] = {
            name: max(1, round((every or interval_s) / interval_s))
            for name, every in driver.poll_groups().items()
        }
        self._tick = 0
        self._inflight: asyncio.Future[tuple[int, list[Reading]]] | None = None
        self._following: asyncio.Task[None] | None = None  # a follower step under way
        self.polls = 0
        # The thread of the device's line (its own when none is given: a test's lone poller).
        self._own_worker = worker is None
        self.worker = worker or LineWorker(f"{chamber_id}/{device_id}")
        # The memory followers of every device on this line: downloads share the line's
        # backfill budget, not one budget each.
        if line_followers is None:
            line_followers = [follower] if follower is not None else []
        self.line_downloads = (
            line_followers
            if isinstance(line_followers, LineDownloads)
            else LineDownloads(line_followers)
        )
        # Shared by the devices of a line of two or more (None: a line of its own).
        self.line_gate = line_gate
        self._lateness_s: deque[float] = deque(maxlen=LATENESS_WINDOW)

    @property
    def phase_s(self) -> float:
        """Where in the interval this device's ticks fall: fixed by its name, so polls of many
        devices spread over the interval, and a restart keeps each where it was."""
        key = f"{self.chamber_id}/{self.device_id}".encode()
        return zlib.crc32(key) / 2**32 * self.interval_s

    async def run(self) -> None:
        """Poll at the device's ticks until cancelled, then close it (see aclose).

        Ticks fall at t0 + k * interval on the event loop's monotonic clock, t0 at the device's
        phase of the interval, so a slow read never shifts later ones. A read that overruns
        the ticks after it cannot be undone: each tick it covered is recorded as a poll that
        could not run, never lost in silence: counted in health, and where the device's
        history is its polls, stored as samples of quality `skipped` at the tick's time (a
        logger with a memory keeps its own records whatever the polls do)."""
        loop = asyncio.get_running_loop()
        wall_minus_loop_s = time.time() - loop.time()
        first = loop.time() + (self.phase_s - (loop.time() + wall_minus_loop_s)) % self.interval_s
        k = 0
        try:
            while True:
                due = first + k * self.interval_s
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
                self._started_late(loop.time() - due)
                await self.poll_once(follow_apart=True)
                k += 1
                behind = loop.time() - (first + k * self.interval_s)
                if behind > 0:
                    skipped = math.ceil(behind / self.interval_s)
                    if self.live_sink is None:  # the device's history is its polls
                        first_us = round((first + wall_minus_loop_s) * 1e6)
                        interval_us = round(self.interval_s * 1e6)
                        for j in range(k, k + skipped):
                            tick_us = first_us + j * interval_us
                            await self.sink(self._missing(tick_us, Quality.SKIPPED))
                    self.health.missed_ticks += skipped
                    k += skipped
        finally:
            await self.aclose()

    async def __aenter__(self) -> DevicePoller:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Let the request under way end (it is bounded by the device's timeout: a half-sent
        frame would leave the line out of step), then close the device on its line."""
        following = self._following
        if following is not None and not following.done():
            following.cancel()  # a step stops as it did when it ran inside the poll's task
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await following
        if self.follower is not None:
            await self.follower.aclose()
        follower_call = self.follower.inflight if self.follower is not None else None
        for inflight in (self._inflight, follower_call):
            if inflight is not None and not inflight.done():
                with contextlib.suppress(Exception):
                    await inflight
        with contextlib.suppress(RuntimeError):  # the line already stopped: nothing to close
            await self.worker.call(Priority.LIVE, self._close)
        if self._own_worker:
            self.worker.stop()

    def _started_late(self, late_s: float) -> None:
        h = self.health
        self._lateness_s.append(late_s)
        if late_s > LATE_S:
            h.late_polls += 1
        # Sorted every 20th poll (and the first few): at every poll, a thousand loggers
        # sorted 600 figures each a second for the first ten minutes.
        if self.polls < 20 or self.polls % 20 == 0:
            ordered = sorted(self._lateness_s)
            h.poll_lateness_ms_p50 = round(1e3 * ordered[len(ordered) // 2], 1)
            h.poll_lateness_ms_p99 = round(1e3 * ordered[int(0.99 * (len(ordered) - 1))], 1)

    async def _emit(self, samples: list[Sample]) -> None:
        await (self.live_sink or self.sink)(samples)

    def _close(self) -> None:
        with contextlib.suppress(DriverError):
            self.driver.close()
        self._opened = False

    def _due_groups(self) -> frozenset[str] | None:
        if len(self._group_every) == 1:
            return None
        return frozenset(g for g, every in self._group_every.items() if self._tick % every == 0)

    def _read_blocking(self, groups: frozenset[str] | None) -> tuple[int, list[Reading]]:
        """Read with the policy's retries; raises the last error when every attempt failed."""
        attempt = 0
        while True:
            try:
                if not self._opened:
                    self.health.info = self.driver.open()
                    self._opened = True
                    self._reopened = True
                before = self.now_us()
                readings = self.driver.read(groups)
                after = self.now_us()
                return (before + after) // 2, readings
            except DeviceException as exc:
                if not exc.busy or attempt >= self.policy.retries:
                    raise
                time.sleep(self.policy.busy_retry_delay_s)
            except NoReply:
                # Retry a timeout only for a device that has been answering: a device that is
                # already failing gets one probe per poll, so it costs the line one timeout.
                if attempt >= self.policy.retries or self.health.consecutive_failures:
                    raise
            except ProtocolError:
                if attempt >= self.policy.retries:
                    raise
            attempt += 1
            self.health.retries += 1

    async def poll_once(self, follow_apart: bool = False) -> list[Sample]:
        """One poll: read the device and pass on its samples, or missing ones on failure;
        then a step of its memory follower. With `follow_apart` (as run() polls) the step
        runs as a task of its own, and the next tick's poll does not wait for it: a step's
        requests queue behind every live poll on the line, and a busy line would otherwise
        make the device miss its ticks for its memory's sake. A step still under way at the
        next tick is left to finish; none is started beside it."""
        started = self.now_us()
        groups = self._due_groups()
        self._tick += 1
        turn = Turn.POLL if self.line_gate is None else self.line_gate.turn(self.name)
        if turn is not Turn.POLL:
            self._quarantine_until = 0.0  # the line's quarantine stands in for the device's
        if turn is Turn.HOLD:
            # Its line is quarantined: no request, and no memory download either.
            samples = self._held_by_line(started)
            if self.live_sink is None:  # the device's history is its polls
                await self.sink(samples)
            self.polls += 1
            return samples
        if time.monotonic() < self._quarantine_until:
            samples = self._missing(started, Quality.MISSING)
        else:
            try:
                # Awaited as it is: cancelled (the poller stopping), a read under way still
                # runs to its end, and aclose's request to close the device runs after it.
                self._inflight = self.worker.start(Priority.LIVE, self._read_blocking, groups)
                timestamp_us, readings = await self._inflight
            except DriverError as exc:
                samples = self._failed(started, exc)
            except Exception as exc:
                # A driver bug (a third-party driver raising something unexpected) must not
                # end this device's polling: record it as a bad read and carry on.
                log.exception("%s/%s: driver failed", self.chamber_id, self.device_id)
                samples = self._failed(started, ProtocolError(f"driver error: {exc!r}"))
            else:
                samples = self._succeeded(timestamp_us, readings, groups)
        await self._emit(samples)
        if self.follower is not None and self.health.state == "ok":
            if not follow_apart:
                await self._follow(started)
            elif (self._following is None or self._following.done()) and (
                self.follower.step_due()  # caught up: no task made only to return
            ):
                self._following = asyncio.create_task(
                    self._follow(started), name=f"loggerd-follow {self.name}"
                )
        self.polls += 1  # completed polls: their samples have been handed on
        return samples

    def _held_by_line(self, tick_us: int) -> list[Sample]:
        """A tick not polled because the device's line is quarantined: recorded, with why."""
        self.health.line_quarantined_ticks += 1
        self._quarantined_with_line()
        return self._missing(tick_us, Quality.SKIPPED)

    def _quarantined_with_line(self) -> None:
        assert self.line_gate is not None
        h = self.health
        h.quarantined = True
        h.quarantine_reason = "line"
        h.quarantine_until_utc_us = self.line_gate.health.quarantine_until_utc_us

    async def _follow(self, started_us: int) -> None:
        """Read what is new in the logger's memory, in what is left of this tick's share."""
        assert self.follower is not None
        if self._reopened:
            self._reopened = False
            self.follower.connected()
        used_s = (self.now_us() - started_us) / 1e6
        # The line's share of the interval, split between the downloads under way on it.
        downloading = self.line_downloads.under_way()
        share_s = self.interval_s * self.backfill_duty / max(1, downloading)
        budget_s = max(0.0, share_s - used_s)
        try:
            await self.follower.step(budget_s)
        except DriverError as exc:
            kind = type(exc).__name__
            self.health.errors_by_kind[kind] = self.health.errors_by_kind.get(kind, 0) + 1
            self.follower.health.last_error = str(exc)
            if isinstance(exc, LinkError):
                self._opened = False  # reconnect, and check the clock again
            log.warning("%s/%s: reading its memory: %s", self.chamber_id, self.device_id, exc)
        except Exception as exc:
            self.follower.health.last_error = repr(exc)
            log.exception("%s/%s: reading its memory failed", self.chamber_id, self.device_id)

    def _succeeded(
        self, timestamp_us: int, readings: list[Reading], groups: frozenset[str] | None
    ) -> list[Sample]:
        h = self.health
        if self.line_gate is not None:
            self.line_gate.answered(self.name)
        # A device back with its line was announced with the line, with all the others.
        if h.state in ("offline", "error") and h.quarantine_reason != "line":
            log.info("%s/%s: answering again", self.chamber_id, self.device_id)
        h.state = "ok"
        h.last_ok_utc_us = timestamp_us
        h.consecutive_failures = 0
        h.reads_ok += 1
        h.quarantine_until_utc_us = None
        h.quarantined = False
        h.quarantine_reason = None
        self._backoff.reset()
        by_point = {r.point: r for r in readings}
        samples = []
        for b in self.bindings:
            r = by_point.get(b.point)
            if r is None:
                if groups is not None:
                    continue  # its group was not due this tick
                r = Reading(b.point, math.nan, math.nan, Quality.INVALID)
            samples.append(
                Sample(
                    self.chamber_id,
                    b.channel_id,
                    timestamp_us,
                    r.value,
                    r.raw_value,
                    r.quality,
                    TimeSource.HOST,
                )
            )
        return samples

    def _missing(self, timestamp_us: int, quality: Quality) -> list[Sample]:
        return [
            Sample(
                self.chamber_id,
                b.channel_id,
                timestamp_us,
                math.nan,
                math.nan,
                quality,
                TimeSource.HOST,
            )
            for b in self.bindings
        ]

    def _failed(self, timestamp_us: int, exc: DriverError) -> list[Sample]:
        quality = Quality.MISSING if isinstance(exc, LinkError) else Quality.INVALID
        kind = type(exc).__name__
        h = self.health
        h.errors_by_kind[kind] = h.errors_by_kind.get(kind, 0) + 1
        h.reads_failed += 1
        h.consecutive_failures += 1
        h.last_error = str(exc)
        h.last_error_utc_us = timestamp_us
        h.state = "offline" if isinstance(exc, LinkError) else "error"
        if isinstance(exc, LinkError):
            self._opened = False  # identify it again when it is back (it may have rebooted)
        give_up = h.consecutive_failures >= self.policy.quarantine_after
        if self._line_is_down(exc, give_up):
            self._quarantined_with_line()  # its line said so once, for every device on it
        elif give_up:
            backoff_s = self._backoff.next()
            self._quarantine_until = time.monotonic() + backoff_s
            h.quarantine_until_utc_us = timestamp_us + int(backoff_s * 1e6)
            h.quarantines += 1
            h.quarantined = True
            h.quarantine_reason = "device"
            log.warning(
                "%s/%s: %s (%d failures in a row); quarantined for %.0f s",
                self.chamber_id,
                self.device_id,
                exc,
                h.consecutive_failures,
                backoff_s,
            )
        else:
            # Below its threshold (again, when its line is back): not left alone.
            h.quarantined, h.quarantine_until_utc_us, h.quarantine_reason = False, None, None
            if h.consecutive_failures == 1:
                log.warning("%s/%s: %s", self.chamber_id, self.device_id, exc)
        return self._missing(timestamp_us, quality)

    def _line_is_down(self, exc: DriverError, give_up: bool) -> bool:
        """Tell the line how the poll went: is the line quarantined now?"""
        if self.line_gate is None:
            return False
        if not isinstance(exc, LinkError):
            # A reply came, if not one to use (or the driver failed in its own code): no sign
            # that the line is down.
            self.line_gate.answered(self.name)
            return False
        return self.line_gate.silent(self.name, str(exc), give_up)
