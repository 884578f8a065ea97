"""Verdicts by the two decision rules, at and around each limit."""

from __future__ import annotations

import pytest

from loggerd.chamber import decide


@pytest.mark.parametrize(
    ("value", "verdict"),
    [
        (0.0, "pass"),
        (1.5, "pass"),  # exactly U inside the limit
        (1.8, "conditional pass"),
        (2.0, "conditional pass"),  # on the limit
        (2.3, "conditional fail"),
        (2.5, "conditional fail"),  # exactly U outside
        (2.6, "fail"),
        (-2.6, "fail"),
        (-1.9, "conditional pass"),
    ],
)
def test_guarded_rule_of_ilac_g8(value: float, verdict: str) -> None:
    d = decide(value, -2.0, 2.0, 0.5, rule="guarded")
    assert d.verdict == verdict and d.passed == (verdict == "pass")


@pytest.mark.parametrize(("value", "verdict"), [(2.0, "pass"), (2.01, "fail"), (-2.0, "pass")])
def test_simple_acceptance(value: float, verdict: str) -> None:
    assert decide(value, -2.0, 2.0, 0.5, rule="simple").verdict == verdict


def test_one_sided_limits() -> None:
    assert decide(0.4, None, 1.0, 0.5).verdict == "pass"  # a fluctuation of ±0.4 K, limit 1 K
    assert decide(0.7, None, 1.0, 0.5).verdict == "conditional pass"
    assert decide(5.0, 0.0, None, 0.5).verdict == "pass"


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one limit"):
        decide(1.0, None, None, 0.1)
    with pytest.raises(ValueError, match="above the high limit"):
        decide(1.0, 2.0, 1.0, 0.1)
    with pytest.raises(ValueError, match="unknown decision rule"):
        decide(1.0, 0.0, 2.0, 0.1, rule="lenient")  # type: ignore[arg-type]
