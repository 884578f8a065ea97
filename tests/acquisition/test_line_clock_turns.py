"""Loggers on one line check their clocks a few at a time: at start-up fifty loggers on one
gateway would otherwise put their clock reads on the line all at once."""

from __future__ import annotations

import threading

from loggerd.acquisition.poller import LineDownloads

from .test_follower import Follow, stop_line_workers  # noqa: F401  (the fixture stops lines)


def _held(f: Follow, gate: threading.Event) -> None:
    read_clock = f.driver.read_clock

    def held_clock() -> float:
        gate.wait(timeout=30)  # bounded: a failing test still lets the line's thread stop
        return read_clock()

    f.driver.read_clock = held_clock  # type: ignore[method-assign]


async def test_a_line_runs_its_clock_checks_a_few_at_once_and_the_next_when_one_is_done() -> None:
    follows = [Follow(None, 115) for _ in range(3)]  # records 1..12 in each logger
    gates = [threading.Event() for _ in follows]
    for f, gate in zip(follows, gates, strict=True):
        _held(f, gate)
    line = LineDownloads([f.follower for f in follows], clock_checks_at_once=2)
    first, second, third = follows

    for f in follows:
        await f.follower.step(0.1)  # a step returns while its check's first read is held
    assert [f.follower.clock_check_under_way for f in follows] == [True, True, False]
    assert not line.clock_turn()
    await third.follower.step(0.1)  # still not its turn: no check, and no records
    assert not third.follower.clock_check_under_way and third.samples == []

    gates[0].set()
    await first.follower.clock_checked()
    assert line.clock_turn()  # its reads are done: the turn is free before its result is taken
    await first.follower.step(5)  # takes its offset, reads its records
    assert [s.sequence for s in first.samples] == list(range(1, 13))
    assert line.clock_turn()
    await third.follower.step(0.1)
    assert third.follower.clock_check_under_way

    for gate in gates[1:]:
        gate.set()
    for f in (second, third):
        await f.follower.clock_checked()
        await f.follower.step(5)
        assert [s.sequence for s in f.samples] == list(range(1, 13))
