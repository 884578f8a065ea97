"""Which readings a standard's statistics are computed from: the evaluation window.

The standards do not take every sample a logger recorded: they take readings of all points at
set instants after stabilisation (GB/T 5170.2-2017: every minute, 30 readings). A schedule says
when; `sample_window` picks from the stored history the sample of each point nearest each
instant (within a stated distance, else missing), so the statistics and the report say
exactly which readings were used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loggerd.chamber.arrays import as_series
from loggerd.chamber.statistics import Family


@dataclass(frozen=True)
class Schedule:
    interval_s: float
    readings: int
    basis: str  # where the schedule comes from, quoted in the report

    @property
    def span_s(self) -> float:
        return self.interval_s * (self.readings - 1)


# Defaults per family; a test plan may set its own (the report then quotes that one).
SCHEDULES: dict[Family, Schedule] = {
    "gb_t_5170": Schedule(
        60.0, 30, "GB/T 5170.2-2017: after stabilisation, all points every 1 min, 30 readings"
    ),
    "jjf_1101": Schedule(
        120.0, 16, "JJF 1101-2019: after stabilisation, all points every 2 min for 30 min, 16 sets"
    ),
    "iec_60068_3": Schedule(
        60.0,
        30,
        "IEC 60068-3-5/-3-6 leave the measuring period to the test plan: "
        "loggerd's default of 30 readings 1 min apart after stabilisation",
    ),
}


@dataclass(frozen=True)
class Window:
    instants_s: npt.NDArray[np.float64]  # the scheduled instants
    values: npt.NDArray[np.float64]  # instants x points, NaN: no sample near enough
    schedule: Schedule
    max_offset_s: float


def sample_window(
    times_s: npt.ArrayLike,
    values: npt.ArrayLike,
    start_s: float,
    schedule: Schedule,
    max_offset_s: float,
) -> Window:
    """The readings at `start_s`, `start_s + interval`, ...: per point, the sample nearest each
    instant if it lies within `max_offset_s` of it (NaN samples are not candidates)."""
    t, x = as_series(times_s, values)
    if max_offset_s < 0 or max_offset_s >= schedule.interval_s / 2:
        raise ValueError(
            f"max_offset_s must be at least 0 and less than half the interval "
            f"({schedule.interval_s / 2} s), got {max_offset_s}: one sample must not stand for "
            "two instants"
        )
    instants = start_s + np.arange(schedule.readings, dtype=np.float64) * schedule.interval_s
    out = np.full((schedule.readings, x.shape[1]), np.nan)
    for j in range(x.shape[1]):
        ok = ~np.isnan(x[:, j])
        tj, xj = t[ok], x[ok, j]
        if tj.size == 0:
            continue
        right = np.clip(np.searchsorted(tj, instants), 0, tj.size - 1)
        left = np.clip(right - 1, 0, tj.size - 1)
        nearer_left = np.abs(tj[left] - instants) <= np.abs(tj[right] - instants)
        nearest = np.where(nearer_left, left, right)
        close = np.abs(tj[nearest] - instants) <= max_offset_s
        out[close, j] = xj[nearest[close]]
    return Window(instants, out, schedule, max_offset_s)


def on_grid(
    points: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]],
    start_us: int,
    end_us: int,
    step_s: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Several points' samples (each its times in UTC µs and values) on one grid of `step_s`
    from `start_us`: each cell the mean of that point's samples nearest it (NaN: none). Points
    polled by different loggers at different phases line up this way. Returns the grid's times
    in seconds from `start_us` and the instants x points array."""
    if step_s <= 0:
        raise ValueError(f"step_s must be above 0, got {step_s}")
    step_us = step_s * 1e6
    cells = int(np.ceil((end_us - start_us) / step_us))
    sums = np.zeros((cells, len(points)))
    counts = np.zeros((cells, len(points)))
    for j, (times_us, values) in enumerate(points):
        t = np.asarray(times_us, dtype=np.int64)
        v = np.asarray(values, dtype=np.float64)
        cell = np.rint((t - start_us) / step_us).astype(np.int64)
        ok = (cell >= 0) & (cell < cells) & ~np.isnan(v)
        np.add.at(sums[:, j], cell[ok], v[ok])
        np.add.at(counts[:, j], cell[ok], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = np.where(counts > 0, sums / counts, np.nan)
    return np.arange(cells, dtype=np.float64) * step_s, grid
