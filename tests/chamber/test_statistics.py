"""Chamber statistics against a window computed by hand, for each family of standards.

The window (setpoint -70 °C, centre = point 0, one sample of point 2 missing):

    instant   point 0   point 1   point 2
    t0        -70.2     -69.5     -70.9
    t1        -70.0     -69.7     -70.3
    t2        -70.1     -69.3     (none)

By hand: time means -70.1, -69.5, -70.6; half-ranges over time 0.1, 0.2, 0.3; spreads across
points 1.4, 0.6, 0.8; extremes -69.3 and -70.9.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from loggerd.chamber import FAMILIES, evaluate
from loggerd.chamber.windows import SCHEDULES, sample_window

NAN = math.nan
WINDOW = [
    [-70.2, -69.5, -70.9],
    [-70.0, -69.7, -70.3],
    [-70.1, -69.3, NAN],
]


def test_iec_60068_3_by_hand() -> None:
    s = evaluate(WINDOW, -70.0, family="iec_60068_3", centre=0)
    assert s.deviation == pytest.approx(0.1)  # -70 - (-70.1)
    assert s.fluctuation == pytest.approx(0.3)  # point 2: (-70.3 - -70.9) / 2
    assert s.gradient == pytest.approx(1.1)  # -69.5 - (-70.6)
    assert s.variation_in_space == pytest.approx(0.6)  # |-70.1 - -69.5|, not 0.5 to point 2
    assert (s.samples_used, s.samples_missing, s.points_without_data) == (8, 1, ())
    assert s.deviation_max is None and s.uniformity is None  # not this family's figures


def test_gb_t_5170_by_hand() -> None:
    s = evaluate(WINDOW, -70.0, family="gb_t_5170")
    assert s.deviation_max == pytest.approx(0.7)  # -69.3 + 70
    assert s.deviation_min == pytest.approx(-0.9)  # -70.9 + 70
    assert s.fluctuation == pytest.approx(0.3)
    assert s.gradient == pytest.approx(1.1)
    assert s.deviation is None and s.variation_in_space is None and s.uniformity is None


def test_jjf_1101_by_hand() -> None:
    s = evaluate(WINDOW, -70.0, family="jjf_1101")
    assert s.uniformity == pytest.approx((1.4 + 0.6 + 0.8) / 3)
    assert s.uniformity_instants == 3
    assert (s.deviation_max, s.deviation_min) == (pytest.approx(0.7), pytest.approx(-0.9))
    assert s.samples_used == 8


def test_the_centre_is_the_named_column() -> None:
    s = evaluate(WINDOW, -70.0, family="iec_60068_3", centre=1)
    assert s.deviation == pytest.approx(-0.5)  # -70 - (-69.5)
    assert s.variation_in_space == pytest.approx(1.1)  # |-69.5 - -70.6|


def test_a_point_with_no_sample_is_left_out_and_named() -> None:
    window = np.array(WINDOW)
    window[:, 1] = NAN  # point 1 disconnected for the whole window
    s = evaluate(window, -70.0, family="jjf_1101")
    assert s.points_without_data == (1,)
    assert s.samples_used == 5 and s.samples_missing == 4
    assert s.gradient == pytest.approx(0.5)  # -70.1 - (-70.6)
    # t2 has only point 0: no spread across points there.
    assert s.uniformity_instants == 2
    assert s.uniformity == pytest.approx((0.7 + 0.3) / 2)


def test_a_centre_with_no_sample_gives_no_deviation_rather_than_a_number() -> None:
    window = np.array(WINDOW)
    window[:, 0] = NAN
    s = evaluate(window, -70.0, family="iec_60068_3", centre=0)
    assert s.deviation is None and s.variation_in_space is None
    assert s.gradient == pytest.approx(1.1)  # the other points still have means


def test_an_empty_window_gives_no_figures() -> None:
    for family in FAMILIES:
        s = evaluate(np.full((4, 3), NAN), 23.0, family=family)
        assert s.fluctuation is None and s.gradient is None
        assert s.samples_used == 0 and s.samples_missing == 12
    assert evaluate(np.full((4, 3), NAN), 23.0, family="jjf_1101").uniformity is None


@pytest.mark.parametrize(
    ("values", "kwargs", "message"),
    [
        ([1.0, 2.0], {}, "2-D"),
        (WINDOW, {"family": "iec_60068"}, "unknown family"),
        (WINDOW, {"centre": 3}, "centre 3"),
        ([[1.0, math.inf]], {}, "infinity"),
    ],
)
def test_bad_input_is_refused_with_what_to_do(
    values: object, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate(values, -70.0, **kwargs)  # type: ignore[arg-type]


def test_to_dict_is_plain_json_data() -> None:
    d = evaluate(WINDOW, -70.0, family="jjf_1101").to_dict()
    assert d["family"] == "jjf_1101" and d["points_without_data"] == []
    assert all(not isinstance(v, np.generic) for v in d.values())


def test_the_window_takes_the_sample_nearest_each_scheduled_instant() -> None:
    """1 Hz history with a 0.3 s phase; GB/T 5170's schedule is 30 readings a minute apart.
    Point 1 has a hole around the 5th instant, wider than the offset allowed: missing there."""
    t = np.arange(0, 2000) + 0.3
    x = np.column_stack([t * 0.001, -t * 0.001])
    x[(t > 337) & (t < 343), 1] = NAN  # the instant 100 + 4 * 60 = 340 s
    w = sample_window(t, x, 100.0, SCHEDULES["gb_t_5170"], max_offset_s=0.5)
    assert w.instants_s[0] == 100.0 and w.instants_s[-1] == 100.0 + 29 * 60
    assert w.values.shape == (30, 2)
    assert w.values[0, 0] == pytest.approx(100.3 * 0.001)  # the sample 0.3 s after
    assert math.isnan(w.values[4, 1]) and not math.isnan(w.values[4, 0])
    assert np.isnan(w.values).sum() == 1
    s = evaluate(w.values, 0.0, family="gb_t_5170")
    assert (s.samples_used, s.samples_missing) == (59, 1)


def test_one_sample_may_not_stand_for_two_instants() -> None:
    with pytest.raises(ValueError, match="half the interval"):
        sample_window([0.0], [1.0], 0.0, SCHEDULES["jjf_1101"], max_offset_s=60.0)
