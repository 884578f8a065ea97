"""Chamber tests: whether a chamber held the test conditions, by the standards labs report to."""

from loggerd.chamber.decision import Decision, decide
from loggerd.chamber.stabilisation import RampRate, Stabilisation, ramp_rate, stabilisation
from loggerd.chamber.statistics import FAMILIES, ChamberStatistics, Family, evaluate
from loggerd.chamber.windows import SCHEDULES, Schedule, Window, sample_window

__all__ = [
    "FAMILIES",
    "SCHEDULES",
    "ChamberStatistics",
    "Decision",
    "Family",
    "RampRate",
    "Schedule",
    "Stabilisation",
    "Window",
    "decide",
    "evaluate",
    "ramp_rate",
    "sample_window",
    "stabilisation",
]
