"""Pass or fail against a tolerance, by a stated decision rule that accounts for uncertainty.

A figure measured with expanded uncertainty U (k = 2, about 95 %) sits somewhere in ±U of its
value; ISO/IEC 17025 (7.8.6) asks a statement of conformity to say which rule decided it.
Two rules of ILAC-G8:09/2019 are offered:

- "simple" (simple acceptance, guard band 0): pass when the value is within the limits. The
  risk of a false pass reaches 50 % at a limit; fine where U is small beside the tolerance.
- "guarded" (guard band w = U, non-binary, ILAC-G8 4.2.3): pass when the value is within the
  limits by at least U; fail when it is outside by more than U; in between, "conditional pass"
  (inside the limits, within U of one) or "conditional fail" (outside, within U).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Rule = Literal["simple", "guarded"]
Verdict = Literal["pass", "conditional pass", "conditional fail", "fail"]


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    rule: Rule
    value: float
    low: float | None
    high: float | None
    expanded_uncertainty: float  # U, k = 2

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


def decide(
    value: float,
    low: float | None,
    high: float | None,
    expanded_uncertainty: float,
    rule: Rule = "guarded",
) -> Decision:
    """The verdict for `value` against the limits [low, high] (either may be None: one-sided)."""
    if low is None and high is None:
        raise ValueError("a decision needs at least one limit")
    if low is not None and high is not None and low > high:
        raise ValueError(f"the low limit {low} is above the high limit {high}")
    if expanded_uncertainty < 0:
        raise ValueError("an expanded uncertainty is not negative")
    # How far inside the limits the value lies (negative: outside), the nearer limit counting.
    margins = [
        m
        for m in (None if low is None else value - low, None if high is None else high - value)
        if m is not None
    ]
    margin = min(margins)
    u = expanded_uncertainty
    if rule == "simple":
        verdict: Verdict = "pass" if margin >= 0 else "fail"
    elif rule == "guarded":
        if margin >= u:
            verdict = "pass"
        elif margin >= 0:
            verdict = "conditional pass"
        elif margin >= -u:
            verdict = "conditional fail"
        else:
            verdict = "fail"
    else:
        raise ValueError(f"unknown decision rule {rule!r}: use 'simple' or 'guarded'")
    return Decision(verdict, rule, value, low, high, expanded_uncertainty)
