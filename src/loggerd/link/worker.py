"""One thread owns each line: its devices' requests run there, one at a time, most urgent first.

Line I/O blocks (a serial read waits out its timeout; a dead device costs a whole timeout), so
it never runs on the event loop, nor on asyncio's shared default executor, where a dead line's
queued reads would hold every thread and with them the spool appends and store writes of every
other line. Each line gets a thread of its own instead, and a priority queue: a live poll
waits for the request under way, never for a queue of memory downloads, and a clock check goes
before a download window. A request is never cut: priorities order what waits, nothing else.

Live polls first, but not always: a line that its live polls fill (fifty loggers on one TCP
gateway, a slow host) would otherwise never check a clock or read a memory, and a logger whose
history is its memory has no history but its records. So a clock read or a memory window that
has waited AGED_S goes before the live polls, one such request per AGED_S at most: a live poll
waits one request longer at worst twice a second, and the memory work goes on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from enum import IntEnum
from typing import Any, TypeVar

from loggerd.core.errors import LinkError

T = TypeVar("T")


class Priority(IntEnum):
    """What a request is for; lower goes first."""

    LIVE = 0  # a live poll: the schedule is sacred
    CLOCK = 1  # a read of a logger's clock, timed against the host's
    BACKFILL = 2  # a window of a logger's memory: it can wait


AGED_S = 0.5  # a request other than a live poll waiting this long goes first (one per AGED_S)

# fn, args, its future, the loop an awaited call's asyncio future belongs to (None: a
# concurrent.futures.Future, for a caller on another thread), and when it was queued
# (monotonic).
_Job = tuple[Callable[..., Any], tuple[Any, ...], Any, asyncio.AbstractEventLoop | None, float]


class LineWorker:
    """The thread of one line (a serial port, a TCP endpoint, or a device of its own).

    Requests wait in one queue per priority; a token per request in a SimpleQueue (C, no
    Python-level lock) wakes the thread, which then takes the most urgent request waiting,
    whichever token woke it. An awaited request completes its asyncio future from the thread
    through the loop's inbox (see _Inbox), with no concurrent.futures.Future between: the
    hand-off was the largest cost of a poll with hundreds of loggers.
    """

    def __init__(self, name: str, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.monotonic = monotonic
        self._aged_at = -AGED_S  # when a request last went before the live polls
        self._waiting: tuple[deque[_Job], ...] = tuple(deque() for _ in Priority)
        self._tokens: queue.SimpleQueue[bool] = queue.SimpleQueue()  # False: stop
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False
        # Why requests other than live polls must not go out now (None: they may), asked as
        # each is about to run: a line quarantined as a whole sends its probes and nothing
        # else, whatever was queued before the verdict (a memory window, a clock read).
        self.held: Callable[[], str | None] | None = None

    def _put(self, priority: Priority, job: _Job) -> None:
        with self._lock:
            if self._stopped:
                raise RuntimeError(f"line {self.name} has been stopped")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"loggerd-line {self.name}", daemon=True
                )
                self._thread.start()
            self._waiting[priority].append(job)
            self._tokens.put(True)

    def submit(
        self, priority: Priority, fn: Callable[..., T], *args: Any
    ) -> concurrent.futures.Future[T]:
        """Queue fn(*args) on the line's thread; its future has the result or the error."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._put(priority, (fn, args, future, None, self.monotonic()))
        return future

    def start(self, priority: Priority, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """On the event loop: queue fn(*args) on the line's thread; the asyncio future has its
        result or its error. Cancelling the future cancels a request that has not started;
        one under way runs to its end (a half-sent frame would leave the line out of step),
        and a request queued after it on the line runs after it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._put(priority, (fn, args, future, loop, self.monotonic()))
        return future

    async def call(self, priority: Priority, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) on the line's thread and wait for it (cancelling: see start)."""
        return await self.start(priority, fn, *args)

    def stop(self) -> None:
        """Finish what was queued, then end the thread (idempotent)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            thread = self._thread
            # Last in line whatever waits: every queued request still runs.
            self._tokens.put(False)
        if thread is not None:
            thread.join()

    def _next(self) -> _Job | None:
        waiting = self._waiting
        if waiting[Priority.LIVE] and (waiting[Priority.CLOCK] or waiting[Priority.BACKFILL]):
            now = self.monotonic()
            if now - self._aged_at >= AGED_S:
                for priority in (Priority.CLOCK, Priority.BACKFILL):
                    if waiting[priority] and now - waiting[priority][0][4] >= AGED_S:
                        self._aged_at = now
                        return self._take(priority)
        for level, queued in enumerate(waiting):
            if queued:
                return self._take(level)
        return None

    def _take(self, priority: int) -> _Job:
        job = self._waiting[priority].popleft()
        held = self.held
        if priority != Priority.LIVE and held is not None and (why := held()):
            return (_refuse, (why,), job[2], job[3], job[4])  # answered, never sent
        return job

    def _run(self) -> None:
        while self._tokens.get():
            job = self._next()
            if job is not None:
                self._do(job)
        while (job := self._next()) is not None:  # queued before stop(): still run
            self._do(job)

    @staticmethod
    def _do(job: _Job) -> None:
        fn, args, future, loop, _ = job
        if loop is None:
            assert isinstance(future, concurrent.futures.Future)
            if not future.set_running_or_notify_cancel():
                return  # its caller stopped waiting before it started
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the caller, whatever it is
                future.set_exception(exc)
            else:
                future.set_result(result)
            return
        if future.cancelled():
            return  # its caller stopped waiting before it started
        try:
            result = fn(*args)
        except BaseException as exc:
            _hand(loop, future, None, exc)
        else:
            _hand(loop, future, result, None)


def _refuse(why: str) -> None:
    raise LinkError(why)


class _Inbox:
    """Requests completed on line threads for one event loop, settled there in one go: a
    thread wakes the loop only when nothing is waiting to be settled yet. With hundreds of
    loggers, completions come faster than the loop turns, and a call_soon_threadsafe each (a
    write to the loop's self-pipe and a wake) was a large part of a poll's cost."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._done: deque[tuple[Any, Any, BaseException | None]] = deque()
        self._scheduled = False

    def put(self, future: Any, result: Any, exc: BaseException | None) -> None:
        self._done.append((future, result, exc))
        if not self._scheduled:
            # Two threads may both get here: the second drain finds nothing, no harm done.
            self._scheduled = True
            self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._scheduled = False  # before taking: whatever comes after schedules again
        done = self._done
        while done:
            _settle(*done.popleft())


_inboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Inbox] = weakref.WeakKeyDictionary()
_inboxes_lock = threading.Lock()


def _inbox(loop: asyncio.AbstractEventLoop) -> _Inbox:
    inbox = _inboxes.get(loop)
    if inbox is None:
        with _inboxes_lock:
            inbox = _inboxes.setdefault(loop, _Inbox(loop))
    return inbox


def _hand(
    loop: asyncio.AbstractEventLoop,
    future: Any,
    result: Any,
    exc: BaseException | None,
) -> None:
    with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
        _inbox(loop).put(future, result, exc)


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.cancelled():
        return
    if exc is None:
        future.set_result(result)
    else:
        future.set_exception(exc)
