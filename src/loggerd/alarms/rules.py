"""What raises an alarm: the rules, as data.

Sample rules are judged on each accepted sample (live or from a logger's memory), stamped with
the sample's own time; status rules on the daemon's state, each time it is looked at.
"""

from __future__ import annotations

from dataclasses import dataclass

from loggerd.core.alarms import AlarmKind, AlarmSeverity

__all__ = [
    "AlarmKind",
    "AlarmRules",
    "DeviationRule",
    "LimitRule",
    "RateRule",
    "Severity",
    "StaleRule",
]

Severity = AlarmSeverity


@dataclass(frozen=True)
class LimitRule:
    """High and/or low limit of one channel, in its unit."""

    chamber_id: str
    channel_id: str
    high: float | None = None
    low: float | None = None
    deadband: float = 0.0  # clears only once back inside the limit by this much
    delay_s: float = 0.0  # raised only once beyond the limit this long (by sample time)
    severity: Severity = Severity.CRITICAL

    def __post_init__(self) -> None:
        if self.high is None and self.low is None:
            raise ValueError(f"{self.channel_id}: a limit rule needs high, low or both")
        if self.high is not None and self.low is not None and self.low >= self.high:
            raise ValueError(f"{self.channel_id}: low {self.low} is not below high {self.high}")
        if self.deadband < 0 or self.delay_s < 0:
            raise ValueError(f"{self.channel_id}: deadband and delay_s are not negative")


@dataclass(frozen=True)
class RateRule:
    """Rate of change of one channel, in its unit per minute, over a trailing window."""

    chamber_id: str
    channel_id: str
    max_per_min: float
    window_s: float = 60.0
    severity: Severity = Severity.WARNING

    def __post_init__(self) -> None:
        if self.max_per_min <= 0 or self.window_s <= 0:
            raise ValueError(f"{self.channel_id}: max_per_min and window_s must be above 0")


@dataclass(frozen=True)
class DeviationRule:
    """A channel against the open run's setpoint for its quantity, beyond the segment's
    tolerance for delay_s."""

    chamber_id: str
    channel_id: str
    quantity: str  # a profile quantity: temperature_c, rh_pct, frost_point_c, ppmv
    delay_s: float = 60.0
    severity: Severity = Severity.CRITICAL


@dataclass(frozen=True)
class StaleRule:
    chamber_id: str
    channel_id: str
    max_age_s: float
    severity: Severity = Severity.WARNING


@dataclass(frozen=True)
class AlarmRules:
    limits: tuple[LimitRule, ...] = ()
    rates: tuple[RateRule, ...] = ()
    deviations: tuple[DeviationRule, ...] = ()
    stale: tuple[StaleRule, ...] = ()
    sensor_faults: bool = True  # every channel
    communication: bool = True  # every device
    memory_full_fraction: float | None = 0.8  # unread records / memory; None: off
    calibration: bool = True  # every channel with a certificate
