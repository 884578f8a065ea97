"""How well a chamber held a condition, by the statistics two families of standards define.

The same readings — instants down, measuring points across — give different figures under
IEC 60068-3-5/-3-6 (time means per point) and under GB/T 5170.2/.5 with JJF 1101-2019
(extremes against the set value, uniformity as the spread across points averaged over time).
A lab qualifying for both computes both from one window; this module does it in one place,
with the samples it used counted beside every figure.

Definitions (t: instant, j: measuring point, c: the centre point, x̄_j: the time mean of j):

- fluctuation (both):        max_j (max_t x_tj − min_t x_tj) / 2, a ± figure
- gradient (both):           max_j x̄_j − min_j x̄_j
- IEC deviation:             setpoint − x̄_c
- IEC variation in space:    max_{j≠c} |x̄_c − x̄_j|
- GB/T 5170 deviation_max:   max_tj x_tj − setpoint;  deviation_min: min_tj x_tj − setpoint
- JJF 1101 uniformity:       mean_t (max_j x_tj − min_j x_tj)

A missing sample is NaN: it is left out of every figure and counted. A point with no sample at
all in the window is left out of the figures across points (and named in `points_without_data`);
an instant with fewer than two points is left out of the uniformity (the spread across points
needs two). A figure that cannot be computed from what is left is None, never a number made up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

Family = Literal["iec_60068_3", "gb_t_5170", "jjf_1101"]
FAMILIES: tuple[Family, ...] = get_args(Family)


@dataclass(frozen=True)
class ChamberStatistics:
    """The statistics of one evaluation window, in the unit of the values (K for temperature
    differences, %RH for humidity). Figures the family does not define are None."""

    family: Family
    setpoint: float
    instants: int  # rows of the window
    points: int  # columns of the window
    samples_used: int
    samples_missing: int
    points_without_data: tuple[int, ...]
    fluctuation: float | None
    gradient: float | None
    # IEC 60068-3
    deviation: float | None = None
    variation_in_space: float | None = None
    # GB/T 5170 and JJF 1101
    deviation_max: float | None = None
    deviation_min: float | None = None
    # JJF 1101
    uniformity: float | None = None
    uniformity_instants: int | None = None  # instants with two points or more

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["points_without_data"] = list(self.points_without_data)
        return d


def evaluate(
    values: npt.ArrayLike, setpoint: float, family: Family = "iec_60068_3", centre: int = 0
) -> ChamberStatistics:
    """The statistics of `family` over a window: `values` is 2-D, one row per instant and one
    column per measuring point (NaN: no sample), `centre` the column of the centre point."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}: use one of {', '.join(FAMILIES)}")
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"values must be 2-D (instants x measuring points), got shape {x.shape}")
    instants, points = x.shape
    if not 0 <= centre < points:
        raise ValueError(f"centre {centre} is not one of the {points} measuring points")
    if np.isinf(x).any():
        raise ValueError("values hold an infinity: mark a missing sample as NaN")
    present = ~np.isnan(x)
    per_point = present.sum(axis=0)
    with_data = per_point > 0
    used = int(present.sum())

    # Per point over time (points without data left out).
    cols = x[:, with_data]
    means = _nanmean(cols, axis=0)
    half_ranges = (_nanmax(cols, axis=0) - _nanmin(cols, axis=0)) / 2
    fluctuation = _max(half_ranges)
    gradient = None if means.size == 0 else float(means.max() - means.min())

    common: dict[str, Any] = {
        "family": family,
        "setpoint": float(setpoint),
        "instants": instants,
        "points": points,
        "samples_used": used,
        "samples_missing": instants * points - used,
        "points_without_data": tuple(int(j) for j in np.flatnonzero(~with_data)),
        "fluctuation": fluctuation,
        "gradient": gradient,
    }
    if family == "iec_60068_3":
        centre_mean = float(_nanmean(x[:, centre], axis=0)) if with_data[centre] else None
        others = np.delete(with_data, centre)
        other_means = _nanmean(np.delete(x, centre, axis=1)[:, others], axis=0)
        variation = (
            None
            if centre_mean is None or other_means.size == 0
            else float(np.abs(centre_mean - other_means).max())
        )
        return ChamberStatistics(
            **common,
            deviation=None if centre_mean is None else float(setpoint) - centre_mean,
            variation_in_space=variation,
        )

    extremes: dict[str, Any] = {
        "deviation_max": None if used == 0 else float(np.nanmax(x)) - float(setpoint),
        "deviation_min": None if used == 0 else float(np.nanmin(x)) - float(setpoint),
    }
    if family == "gb_t_5170":
        return ChamberStatistics(**common, **extremes)

    rows = present.sum(axis=1) >= 2
    spreads = _nanmax(x[rows], axis=1) - _nanmin(x[rows], axis=1)
    return ChamberStatistics(
        **common,
        **extremes,
        uniformity=None if spreads.size == 0 else float(spreads.mean()),
        uniformity_instants=int(rows.sum()),
    )


# numpy's nan-reductions warn on an all-NaN slice; the callers above never pass one.
def _nanmean(a: npt.NDArray[np.float64], axis: int) -> npt.NDArray[np.float64]:
    return np.asarray(np.nanmean(a, axis=axis)) if a.size else np.empty(0)


def _nanmax(a: npt.NDArray[np.float64], axis: int) -> npt.NDArray[np.float64]:
    return np.asarray(np.nanmax(a, axis=axis)) if a.size else np.empty(0)


def _nanmin(a: npt.NDArray[np.float64], axis: int) -> npt.NDArray[np.float64]:
    return np.asarray(np.nanmin(a, axis=axis)) if a.size else np.empty(0)


def _max(a: npt.NDArray[np.float64]) -> float | None:
    return None if a.size == 0 else float(a.max())
