"""One ISO 8601 parser for the API and the command line: UTC unless told otherwise, exact to
the microsecond, and one clear sentence for anything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loggerd.core.times import TimeFormatError, iso, parse_utc, parse_utc_us, to_us


def test_a_time_without_an_offset_is_utc_and_offsets_are_honoured() -> None:
    assert parse_utc("2026-11-26T10:00:00", "start") == datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert parse_utc("2026-11-26T12:00:00+02:00", "start") == datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert parse_utc("2026-11-26T10:00:00Z", "start").tzinfo is UTC
    assert parse_utc("2026-10-01", "start") == datetime(2026, 10, 1, tzinfo=UTC)  # midnight


@pytest.mark.parametrize("text", ["yesterday", "0", "1700000000", "1.7e9", "-5", ""])
def test_text_that_is_no_time_says_what_and_how(text: str) -> None:
    """A bare number is refused too: Unix seconds are not ISO 8601, and a 0 is a slip."""
    with pytest.raises(TimeFormatError) as info:
        parse_utc(text, "start")
    assert str(info.value) == (
        f"start={text!r} is not an ISO 8601 time; use e.g. 2026-11-26T10:00:00Z"
    )


@given(st.integers(min_value=-(2**50), max_value=2**52))
def test_microseconds_survive_a_round_trip_exactly(ts_us: int) -> None:
    assert parse_utc_us(iso(ts_us), "t") == ts_us


def test_to_us_is_exact_where_float_seconds_are_not() -> None:
    t = datetime(2262, 1, 1, tzinfo=timezone(timedelta(hours=1))) + timedelta(microseconds=1)
    assert to_us(t) % 1_000_000 == 1
