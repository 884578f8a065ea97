"""The back-off doubles up to its cap, jitter only shortens a delay, and reset starts over."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loggerd.core.backoff import Backoff


def test_without_jitter_the_delay_doubles_up_to_the_cap() -> None:
    backoff = Backoff(0.5, 30.0, jitter=0.0)
    assert [backoff.next() for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]


def test_reset_starts_again_from_the_initial_delay() -> None:
    backoff = Backoff(1.0, 60.0, jitter=0.0)
    for _ in range(5):
        backoff.next()
    backoff.reset()
    assert [backoff.next(), backoff.next()] == [1.0, 2.0]


def test_jitter_shortens_each_delay_by_its_share_of_the_random_draw() -> None:
    draws = iter([0.0, 0.5, 0.999, 0.25])
    backoff = Backoff(2.0, 8.0, jitter=0.5, random=lambda: next(draws))
    # Un-jittered: 2, 4, 8, 8; shortened by 0 %, 25 %, ~50 %, 12.5 %.
    assert backoff.next() == 2.0
    assert backoff.next() == 3.0
    assert backoff.next() == pytest.approx(8.0 * (1 - 0.4995))
    assert backoff.next() == 7.0


def test_jitter_does_not_slow_the_climb_to_the_cap() -> None:
    """The doubling runs on the un-jittered delays: a short draw is not doubled from."""
    backoff = Backoff(1.0, 16.0, jitter=0.9, random=lambda: 0.999)
    delays = [backoff.next() for _ in range(6)]
    assert [round(d / (1 - 0.9 * 0.999), 6) for d in delays] == [1, 2, 4, 8, 16, 16]


def test_loggerds_retrying_one_server_spread_out() -> None:
    """Several retry loops with their own random draws no longer knock at the same instant."""
    delays = {Backoff(0.5, 30.0).next() for _ in range(20)}
    assert len(delays) > 1 and all(0.25 <= d <= 0.5 for d in delays)


@given(
    initial_s=st.floats(1e-3, 10.0),
    cap_factor=st.floats(1.0, 1000.0),
    jitter=st.floats(0.0, 0.99),
    draws=st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=1, max_size=30),
)
def test_every_delay_lies_between_the_jittered_floor_and_the_cap(
    initial_s: float, cap_factor: float, jitter: float, draws: list[float]
) -> None:
    max_s = initial_s * cap_factor
    it = iter(draws)
    backoff = Backoff(initial_s, max_s, jitter, random=lambda: next(it))
    for _ in draws:
        delay = backoff.next()
        assert initial_s * (1 - jitter) <= delay <= max_s
        assert delay > 0


@pytest.mark.parametrize(
    ("initial_s", "max_s", "jitter"),
    [(0.0, 1.0, 0.5), (1.0, 0.0, 0.5), (1.0, 2.0, 1.0), (1.0, 2.0, -0.1)],
)
def test_settings_that_cannot_work_are_refused(
    initial_s: float, max_s: float, jitter: float
) -> None:
    with pytest.raises(ValueError):
        Backoff(initial_s, max_s, jitter)


def test_a_first_delay_longer_than_the_longest_is_the_longest() -> None:
    """A device configured with backoff_initial_s above backoff_max_s waits the longest."""
    backoff = Backoff(3600.0, 300.0, jitter=0.0)
    assert [backoff.next(), backoff.next()] == [300.0, 300.0]
