"""One thread owns each line: its devices' requests run there, one at a time, most urgent first.

Line I/O blocks (a serial read waits out its timeout; a dead device costs a whole timeout), so
it never runs on the event loop, nor on asyncio's shared default executor, where a dead line's
queued reads would hold every thread and with them the spool appends and store writes of every
other line. Each line gets a thread of its own instead, and a priority queue: a live poll
waits for the request under way, never for a queue of memory downloads, and a clock check goes
before a download window. A request is never cut: priorities order what waits, nothing else.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import queue
import threading
from collections.abc import Callable
from enum import IntEnum
from typing import Any, TypeVar

T = TypeVar("T")


class Priority(IntEnum):
    """What a request is for; lower goes first."""

    LIVE = 0  # a live poll: the schedule is sacred
    CLOCK = 1  # a read of a logger's clock, timed against the host's
    BACKFILL = 2  # a window of a logger's memory: it can wait


_Job = tuple[Callable[..., Any], tuple[Any, ...], concurrent.futures.Future[Any]]


class LineWorker:
    """The thread of one line (a serial port, a TCP endpoint, or a device of its own)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.PriorityQueue[tuple[int, int, _Job | None]] = queue.PriorityQueue()
        self._order = itertools.count()  # first come, first served within a priority
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def submit(
        self, priority: Priority, fn: Callable[..., T], *args: Any
    ) -> concurrent.futures.Future[T]:
        """Queue fn(*args) on the line's thread; its future has the result or the error."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._stopped:
                raise RuntimeError(f"line {self.name} has been stopped")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"loggerd-line {self.name}", daemon=True
                )
                self._thread.start()
            self._jobs.put((priority, next(self._order), (fn, args, future)))
        return future

    async def call(self, priority: Priority, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) on the line's thread and wait for it. Cancelling the caller cancels
        a request that has not started; one under way runs to its end (a half-sent frame
        would leave the line out of step)."""
        return await asyncio.wrap_future(self.submit(priority, fn, *args))

    def stop(self) -> None:
        """Finish what was queued, then end the thread (idempotent)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            thread = self._thread
            # Last in line whatever waits: every queued request still runs.
            self._jobs.put((len(Priority), next(self._order), None))
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            _, _, job = self._jobs.get()
            if job is None:
                return
            fn, args, future = job
            if not future.set_running_or_notify_cancel():
                continue  # its caller stopped waiting before it started
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the caller, whatever it is
                future.set_exception(exc)
            else:
                future.set_result(result)
