"""Events, gaps and clock checks: written twice, stored once; a gap found again grows."""

from __future__ import annotations

from loggerd.core.events import ClockCheck, Event, EventKind, Gap, Severity
from loggerd.storage.store import Store


def test_a_log_written_twice_is_stored_once(store: Store) -> None:
    event = Event(5, "c1", "d", EventKind.GAP, Severity.ERROR, "lost", {"records": 3})
    check = ClockCheck("c1", "d", 7, 1_500, 20, 40)
    gap = Gap("c1", "d", 10, 12, 1, 2, 3)
    for _ in range(2):  # a spool drained again after a crash
        store.write_log([event], [gap], [check])
    assert store.events("c1") == [event]
    assert store.gaps("c1") == [gap]
    assert store.clock_checks("c1", "d") == [check]


def test_a_gap_found_again_after_a_crash_grows_to_cover_every_lost_record(store: Store) -> None:
    """The gap 205..213 was stored, then loggerd was killed before the records after it were:
    at the next start the logger's memory has moved on, and the gap found is 205..232."""
    store.write_log(gaps=[Gap("c1", "d", 205, 213, 1_000, 2_000, 3_000)])
    store.write_log(gaps=[Gap("c1", "d", 205, 232, 1_000, 9_000, 4_000)])
    store.write_log(gaps=[Gap("c1", "d", 205, 220, 1_000, 5_000, 5_000)])  # never shrinks
    (gap,) = store.gaps("c1")
    assert (gap.first_sequence, gap.last_sequence, gap.end_us) == (205, 232, 9_000)
