"""A line's thread: one request at a time, the most urgent first, none lost at stop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from loggerd.core.errors import LinkError
from loggerd.link.worker import AGED_S, LineWorker, Priority


def test_a_live_poll_goes_before_the_memory_windows_that_wait() -> None:
    worker = LineWorker("rs485-1")
    order: list[str] = []
    gate = threading.Event()
    try:
        held = worker.submit(Priority.BACKFILL, gate.wait)  # a request under way
        windows = [worker.submit(Priority.BACKFILL, order.append, f"window {i}") for i in range(3)]
        clock = worker.submit(Priority.CLOCK, order.append, "clock")
        live = worker.submit(Priority.LIVE, order.append, "live")
        gate.set()  # the request under way ends; then the queue, most urgent first
        for future in (held, *windows, clock, live):
            future.result(timeout=5)
    finally:
        worker.stop()
    assert order == ["live", "clock", "window 0", "window 1", "window 2"]


def test_a_line_its_live_polls_fill_still_serves_what_has_waited_one_at_a_time() -> None:
    """Live polls that never leave the queue empty do not starve the clock reads and memory
    windows: one that has waited AGED_S goes first, one per AGED_S, and then live polls
    again. Each request here takes a tenth of AGED_S on the line's (test) clock."""
    now = [0.0]
    worker = LineWorker("tcp gateway", monotonic=lambda: now[0])
    order: list[str] = []
    gate = threading.Event()
    step_s = AGED_S / 4  # exact in binary: the picks fall at whole quarters

    def request(name: str) -> None:
        now[0] += step_s
        order.append(name)

    try:
        held = worker.submit(Priority.LIVE, gate.wait)  # a request under way
        windows = [worker.submit(Priority.BACKFILL, request, f"window {i}") for i in range(2)]
        clock = worker.submit(Priority.CLOCK, request, "clock")
        polls = [worker.submit(Priority.LIVE, request, f"poll {i}") for i in range(40)]
        gate.set()
        for future in (held, *windows, clock, *polls):
            future.result(timeout=5)
    finally:
        worker.stop()
    # Queued at 0: until AGED_S nothing has waited long enough, so four live polls go first;
    # then the clock read, three polls, the first window, three polls, the second window.
    assert order.index("clock") == 4
    assert order.index("window 0") == 8
    assert order.index("window 1") == 12
    assert [o for o in order if o.startswith("poll")] == [f"poll {i}" for i in range(40)]


def test_requests_run_on_the_lines_thread_and_errors_reach_the_caller() -> None:
    worker = LineWorker("tcp 10.0.0.5:502")
    try:
        names = {worker.submit(Priority.LIVE, lambda: threading.current_thread().name).result()}
        names.add(
            worker.submit(Priority.BACKFILL, lambda: threading.current_thread().name).result()
        )
        assert names == {"loggerd-line tcp 10.0.0.5:502"}
        with pytest.raises(ZeroDivisionError):
            worker.submit(Priority.LIVE, lambda: 1 / 0).result(timeout=5)
    finally:
        worker.stop()


def test_stop_runs_what_was_queued_then_refuses_more() -> None:
    worker = LineWorker("rs485-2")
    done: list[int] = []
    gate = threading.Event()
    worker.submit(Priority.LIVE, gate.wait)
    queued = [worker.submit(Priority.BACKFILL, done.append, i) for i in range(3)]
    stopper = threading.Thread(target=worker.stop)
    stopper.start()
    gate.set()
    stopper.join(timeout=5)
    assert not stopper.is_alive() and done == [0, 1, 2]
    assert all(f.done() for f in queued)
    with pytest.raises(RuntimeError, match="rs485-2 has been stopped"):
        worker.submit(Priority.LIVE, done.append, 4)


async def test_a_caller_that_stops_waiting_cancels_a_request_not_yet_started() -> None:
    worker = LineWorker("rs485-3")
    gate = threading.Event()
    ran: list[str] = []
    try:
        held = worker.submit(Priority.LIVE, gate.wait)
        waiting = asyncio.ensure_future(worker.call(Priority.BACKFILL, ran.append, "late"))
        await asyncio.sleep(0)  # sync-ok: one turn of the loop, so the call is queued
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        # The cancel reaches the queued request one turn of the loop later.
        await asyncio.sleep(0)  # sync-ok: that turn
        gate.set()
        held.result(timeout=5)
    finally:
        worker.stop()
    assert ran == []


def test_a_held_line_answers_all_but_live_polls_without_sending_them() -> None:
    """While `held` gives a reason (its line quarantined), a clock read or a memory window is
    answered with a LinkError saying it, never run; a live poll (the probe) still runs."""
    worker = LineWorker("held")
    reason: list[str | None] = ["line held is quarantined"]
    worker.held = lambda: reason[0]
    ran: list[str] = []
    try:
        window = worker.submit(Priority.BACKFILL, ran.append, "window")
        clock = worker.submit(Priority.CLOCK, ran.append, "clock")
        probe = worker.submit(Priority.LIVE, ran.append, "probe")
        assert probe.result(10) is None
        for refused in (window, clock):
            with pytest.raises(LinkError, match="quarantined"):
                refused.result(10)
        reason[0] = None  # the line is back
        assert worker.submit(Priority.BACKFILL, ran.append, "window").result(10) is None
    finally:
        worker.stop()
    assert ran == ["probe", "window"]
