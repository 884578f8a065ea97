"""What a run's report is computed from, read once from the store, with its fingerprint.

The data are the run's chamber history over the run's span: each channel's counted values
(as stored, quality good or as good), its samples by quality word (completeness), the events
and gaps of the span. The SHA-256 is over exactly the values the statistics use, in a form
anyone can rebuild from an export: for each channel in id order, one line
`channel_id,timestamp_us,value` per counted sample, in time order, value as Python's repr of
the float, UTF-8, newline-terminated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loggerd.chamber.assessment import QuantitySeries
from loggerd.chamber.windows import on_grid
from loggerd.core.alarms import Alarm
from loggerd.core.events import Event, Gap
from loggerd.core.profiles import Quantity, Run
from loggerd.core.times import utc_now_us
from loggerd.storage.model import ChannelMeta
from loggerd.storage.runs import UnknownRun
from loggerd.storage.store import Store

# Which stored channels measure which profile quantity (the channel's `quantity`).
CHANNEL_QUANTITIES: dict[str, Quantity] = {
    "temperature": "temperature_c",
    "relative_humidity": "rh_pct",
    "frost_point": "frost_point_c",
    "frost_dew_point": "frost_point_c",
    "ppmv": "ppmv",
}
RESOLUTION: dict[Quantity, float] = {  # PROTOCOL.md: values are sent as 0.01 of their unit
    "temperature_c": 0.01,
    "rh_pct": 0.01,
    "frost_point_c": 0.01,
    "ppmv": 0.01,
}
MAX_GRID_CELLS = 2_000_000  # instants of a quantity's grid, at most
GAP_FACTOR = 3  # a pause of more than this many intervals between samples is a gap


@dataclass(frozen=True)
class Calibration:
    """A channel's calibration as the report states it (None fields: not known here)."""

    certificate_id: str | None
    version: int | None
    due: str | None  # ISO date
    past_due: bool | None


@dataclass(frozen=True)
class ChannelData:
    meta: ChannelMeta
    times_us: npt.NDArray[np.int64]  # counted samples only
    values: npt.NDArray[np.float64]
    by_quality: dict[str, int]  # every stored sample in the span, by quality word
    uncertainty_max: float  # largest stated expanded uncertainty (NaN: none stated)
    interval_s: float | None  # median spacing of its samples
    expected: int | None  # samples the span holds at that interval
    gaps: tuple[tuple[int, int], ...]  # (from µs, to µs) pauses over GAP_FACTOR intervals
    calibration: Calibration | None

    @property
    def stored(self) -> int:
        return sum(self.by_quality.values())


@dataclass(frozen=True)
class RunData:
    run: Run
    chamber_name: str | None
    start_us: int
    end_us: int  # the run's end, or now for an open run
    channels: tuple[ChannelData, ...]
    events: tuple[Event, ...]
    gaps: tuple[Gap, ...]  # logger records lost for good
    sha256: str
    alarms: tuple[Alarm, ...] = ()  # raised during the run, on its chamber

    def quantities(self, step_s: float | None = None) -> dict[Quantity, QuantitySeries]:
        """Each quantity's points on one grid, seconds from the run's start; the centre is the
        first channel of the quantity (by the chamber's channel order). The grid's step is the
        points' sampling interval (1 s when unknown), coarser only where the run is so long
        that the grid would pass MAX_GRID_CELLS (a run opened years back and never closed)."""
        groups: dict[Quantity, list[ChannelData]] = {}
        for c in self.channels:
            q = CHANNEL_QUANTITIES.get(c.meta.quantity)
            if q is not None:
                groups.setdefault(q, []).append(c)
        out = {}
        span_s = (self.end_us - self.start_us) / 1e6
        for q, chans in groups.items():
            intervals = [c.interval_s for c in chans if c.interval_s]
            step = step_s or (min(intervals) if intervals else 1.0)
            step = max(step, span_s / MAX_GRID_CELLS)
            times, grid = on_grid(
                [(c.times_us, c.values) for c in chans], self.start_us, self.end_us, step
            )
            us = [c.uncertainty_max for c in chans if not np.isnan(c.uncertainty_max)]
            out[q] = QuantitySeries(
                times,
                grid,
                tuple(c.meta.channel_id for c in chans),
                0,
                max(us) if us else 0.0,
                RESOLUTION[q],
            )
        return out


def gather(
    store: Store,
    run_id: int,
    calibrations: Mapping[str, Calibration | None] | None = None,
) -> RunData:
    """Everything a report of run `run_id` needs, from the store."""
    run = store.runs.get(run_id)
    if run is None:
        raise UnknownRun(f"no run {run_id}: `loggerd runs list` shows the runs")
    end_us = run.end_us if run.end_us is not None else utc_now_us()
    start_us = run.start_us
    metas = store.chamber_channels(run.chamber_id)
    digest = hashlib.sha256()
    channels = []
    for meta in sorted(metas, key=lambda m: m.channel_id):
        times, values = store.reader.counted_values(meta.key, start_us, end_us)
        for t, v in zip(times.tolist(), values.tolist(), strict=True):
            digest.update(f"{meta.channel_id},{t},{v!r}\n".encode())
        counts = store.reader.quality_counts(meta.key, start_us, end_us)
        umax = max((u for _, u in counts.values() if not np.isnan(u)), default=float("nan"))
        interval = float(np.median(np.diff(times))) / 1e6 if times.size > 2 else None
        gaps: tuple[tuple[int, int], ...] = ()
        expected = None
        if interval:
            expected = round((end_us - start_us) / 1e6 / interval)
            steps = np.diff(np.concatenate([[start_us], times, [end_us]]))
            big = np.flatnonzero(steps > GAP_FACTOR * interval * 1e6)
            edges = np.concatenate([[start_us], times, [end_us]])
            gaps = tuple((int(edges[i]), int(edges[i + 1])) for i in big)
        channels.append(
            ChannelData(
                meta,
                times,
                values,
                {q: n for q, (n, _) in sorted(counts.items())},
                umax,
                interval,
                expected,
                gaps,
                None if calibrations is None else calibrations.get(meta.channel_id),
            )
        )
    order = {m.channel_id: i for i, m in enumerate(metas)}
    channels.sort(key=lambda c: order[c.meta.channel_id])
    events = store.events(run.chamber_id, start_us, end_us, (), 10_000)
    gaps_lost = [
        g
        for g in store.gaps(run.chamber_id)
        if g.start_us is None or (g.start_us < end_us and (g.end_us or g.start_us) >= start_us)
    ]
    alarms = store.alarms.list(run.chamber_id, None, start_us, end_us, 10_000)
    return RunData(
        run,
        store.chamber_names().get(run.chamber_id),
        start_us,
        end_us,
        tuple(channels),
        tuple(sorted(events, key=lambda e: e.utc_us)),
        tuple(gaps_lost),
        digest.hexdigest(),
        tuple(sorted(alarms, key=lambda a: a.raised_us)),
    )
