"""The report's plots: every channel of a quantity against time, with the profile's setpoint
line and tolerance band, drawn by matplotlib (its Agg backend: no screen needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # a server draws into files, never a window

import matplotlib.pyplot as plt
import numpy as np

from loggerd.core.profiles import Profile, Quantity
from loggerd.core.times import iso
from loggerd.reports.content import UNITS
from loggerd.reports.data import CHANNEL_QUANTITIES, RunData

TITLES: dict[Quantity, str] = {
    "temperature_c": "Temperature",
    "rh_pct": "Relative humidity",
    "frost_point_c": "Frost point",
    "ppmv": "Water vapour (volume fraction)",
}


def quantity_plots(data: RunData) -> dict[Quantity, bytes]:
    """One PNG per quantity measured in the run."""
    out: dict[Quantity, bytes] = {}
    measured = {CHANNEL_QUANTITIES.get(c.meta.quantity) for c in data.channels}
    for q in TITLES:
        if q in measured:
            out[q] = _plot(data, q)
    return out


def _band(profile: Profile, q: Quantity, hours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    setpoint = np.array([profile.setpoint_at(q, h * 3600) for h in hours], dtype=np.float64)
    tolerance = np.full_like(setpoint, np.nan)
    for start, seg in zip(profile.starts_s(), profile.segments, strict=True):
        target = seg.target(q)
        if target is not None:
            inside = (hours * 3600 >= start) & (hours * 3600 < start + seg.duration_s)
            tolerance[inside] = target.tolerance
    return setpoint, tolerance


def _plot(data: RunData, q: Quantity) -> bytes:
    fig, ax = plt.subplots(figsize=(10, 4.2), dpi=110)
    try:
        for c in data.channels:
            if CHANNEL_QUANTITIES.get(c.meta.quantity) != q:
                continue
            hours = (c.times_us - data.start_us) / 3.6e9
            ax.plot(hours, c.values, linewidth=0.8, label=c.meta.channel_id)
        span_h = (data.end_us - data.start_us) / 3.6e9
        grid = np.linspace(0, span_h, 2000)
        setpoint, tolerance = _band(data.run.profile, q, grid)
        ax.plot(grid, setpoint, color="black", linestyle="--", linewidth=1, label="setpoint")
        ax.fill_between(
            grid,
            setpoint - tolerance,
            setpoint + tolerance,
            color="grey",
            alpha=0.2,
            label="tolerance",
        )
        for start in data.run.profile.starts_s()[1:]:
            ax.axvline(start / 3600, color="grey", linewidth=0.6, linestyle=":")
        ax.set_xlabel(f"hours from the run's start, {iso(data.start_us)}")
        ax.set_ylabel(f"{TITLES[q]} ({UNITS[q]})")
        ax.set_title(f"{TITLES[q]}: every channel against the profile")
        ax.grid(True, linewidth=0.3)
        ax.legend(loc="best", fontsize=7, ncol=2)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)
