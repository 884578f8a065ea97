"""The alarm engine: rules judged on samples and on status, as transitions raised and cleared.

Pure: no I/O, no clock of its own. Samples are judged per stream — a channel's live polls and
its logger's memory records are two streams, each in its own time order — and an alarm is
active while any stream's condition holds: a memory-backed logger's excursion seen live and
again from its memory is one alarm, stamped at the earlier sample. Every transition carries
the time of the sample (or status look) that caused it, never the time it was computed, so
records downloaded hours later raise and clear their alarms at the hours they happened.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np

from loggerd.alarms.rules import AlarmRules, Severity
from loggerd.core.alarms import AlarmKey, AlarmKind, Transition
from loggerd.core.samples import VALUED_QUALITIES, Quality, Sample

FAULT_QUALITIES = frozenset({Quality.SENSOR_FAULT, Quality.OUT_OF_RANGE})
_RESTORED = "restored"  # the stream of an alarm active when this engine started
# The open run's setpoint and tolerance for a chamber's quantity at an instant (UTC µs).
Setpoints = Callable[[str, str, int], tuple[float, float] | None]
# Batches of at least this many samples have their quiet streams judged as a whole (see
# AlarmEngine._loud); fewer are walked sample by sample, which is then as cheap.
QUIET_BATCH = 64
_STREAM = attrgetter("chamber_id", "channel_id", "time_source")
_TIME = attrgetter("timestamp_us")
_VALUE = attrgetter("value")
_QUALITY = attrgetter("quality")


@dataclass(frozen=True)
class DeviceStatus:
    chamber_id: str
    device_id: str
    offline: bool  # no usable answer: no reply, or replies that cannot be used
    unread_fraction: float | None = None  # unread records / the logger's memory


@dataclass(frozen=True)
class ChannelStatus:
    chamber_id: str
    channel_id: str
    calibration_past_due: bool | None


@dataclass
class _Condition:
    active: bool = False
    since_us: int | None = None  # beyond the limit since (for a delay)


@dataclass
class _Alarm:
    streams: dict[object, _Condition] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return any(c.active for c in self.streams.values())


class AlarmEngine:
    def __init__(self, rules: AlarmRules, setpoints: Setpoints | None = None) -> None:
        self.rules = rules
        self.setpoints = setpoints
        self._alarms: dict[AlarmKey, _Alarm] = {}
        self._limits = {(r.chamber_id, r.channel_id): r for r in rules.limits}
        self._rates = {(r.chamber_id, r.channel_id): r for r in rules.rates}
        self._deviations = {(r.chamber_id, r.channel_id): r for r in rules.deviations}
        self._stale = {(r.chamber_id, r.channel_id): r for r in rules.stale}
        self._history: dict[object, deque[tuple[int, float]]] = {}
        self._last_valued_us: dict[tuple[str, str], int] = {}
        self._last_seen_us: dict[object, int] = {}
        self._fault_keys: dict[tuple[str, str], AlarmKey] = {}

    def active(self) -> list[AlarmKey]:
        return [k for k, a in self._alarms.items() if a.active]

    def restore(self, keys: Iterable[AlarmKey]) -> None:
        """Alarms left active by an earlier run (from the store): active until any stream
        judges their condition gone, so a restart neither raises them again nor forgets them."""
        for key in keys:
            self._alarms.setdefault(key, _Alarm()).streams[_RESTORED] = _Condition(active=True)

    # Samples.

    def accept(self, samples: Iterable[Sample]) -> list[Transition]:
        out: list[Transition] = []
        for s in sorted(self._loud(list(samples)), key=_TIME):
            stream = (s.chamber_id, s.channel_id, s.time_source)
            if s.timestamp_us <= self._last_seen_us.get(stream, -1):
                continue  # seen (a spool replayed after a crash): judged once
            self._last_seen_us[stream] = s.timestamp_us
            out.extend(self._judge(s, stream))
        return out

    def _loud(self, samples: list[Sample]) -> list[Sample]:
        """The samples to judge one at a time; the others are judged here, a stream at once.

        A stream is quiet when no sample of it can change any state: its channel has no rule
        but limits, its sensor-fault alarm is not active nor any sample of it a fault, its
        limit alarms are not active nor counting a delay, and no sample is beyond a limit
        (numpy, over the batch). Judged one by one its samples would raise nothing, clear
        nothing and start no delay; what they leave is the stream's time of the newest
        sample (a replay is judged once), which is set here. A download's hundreds of records
        in range cost a few array operations instead of a walk through every sample."""
        if len(samples) < QUIET_BATCH:
            return samples
        keys = list(map(_STREAM, samples))
        streams = {k: i for i, k in enumerate(dict.fromkeys(keys))}
        quiet = {k for k in streams if self._may_be_quiet(k)}
        faults = self.rules.sensor_faults and not FAULT_QUALITIES.isdisjoint(map(_QUALITY, samples))
        if quiet and faults:
            quiet -= {k for k, s in zip(keys, samples, strict=True) if s.quality in FAULT_QUALITIES}
        if not quiet:
            return samples
        n = len(samples)
        codes = np.fromiter(map(streams.__getitem__, keys), np.intp, n)
        times = np.fromiter(map(_TIME, samples), np.int64, n)
        newest = np.full(len(streams), np.iinfo(np.int64).min, np.int64)
        np.maximum.at(newest, codes, times)
        high = np.full(len(streams), np.inf)
        low = np.full(len(streams), -np.inf)
        for k in quiet:
            rule = self._limits.get((k[0], k[1]))
            if rule is not None:
                high[streams[k]] = np.inf if rule.high is None else rule.high
                low[streams[k]] = -np.inf if rule.low is None else rule.low
        values = np.fromiter(map(_VALUE, samples), np.float64, n)
        beyond = (values > high[codes]) | (values < low[codes])
        loud_streams = set(codes[beyond].tolist()) if beyond.any() else set()
        for k in quiet.copy():
            i = streams[k]
            if i in loud_streams:
                quiet.discard(k)
                continue
            last = int(newest[i])
            if last > self._last_seen_us.get(k, -1):
                self._last_seen_us[k] = last
        if len(quiet) == len(streams):
            return []
        return [s for k, s in zip(keys, samples, strict=True) if k not in quiet]

    def _may_be_quiet(self, stream: tuple[str, str, object]) -> bool:
        """Whether the stream's samples can be judged as a whole if none is a fault or beyond
        a limit (see _loud)."""
        where = (stream[0], stream[1])
        if where in self._rates or where in self._deviations or where in self._stale:
            return False
        if self.rules.sensor_faults and self._is_active(AlarmKey(AlarmKind.SENSOR_FAULT, *where)):
            return False
        if where in self._limits:
            for kind in (AlarmKind.HIGH, AlarmKind.LOW):
                alarm = self._alarms.get(AlarmKey(kind, *where))
                if alarm is not None:
                    cond = alarm.streams.get(stream)
                    if alarm.active or (cond is not None and cond.since_us is not None):
                        return False
        return True

    def _is_active(self, key: AlarmKey) -> bool:
        alarm = self._alarms.get(key)
        return alarm is not None and alarm.active

    def _judge(self, s: Sample, stream: object) -> list[Transition]:
        out: list[Transition] = []
        where = (s.chamber_id, s.channel_id)
        t, v = s.timestamp_us, s.value
        valued = s.quality in VALUED_QUALITIES and not math.isnan(v)
        if self.rules.sensor_faults and (valued or s.quality in FAULT_QUALITIES):
            # Every sample of every channel comes here: its key made once, and a good reading
            # of a channel that never had a fault costs a lookup.
            key = self._fault_keys.get(where)
            if key is None:
                key = self._fault_keys[where] = AlarmKey(AlarmKind.SENSOR_FAULT, *where)
            fault = s.quality in FAULT_QUALITIES
            if fault or key in self._alarms:
                out += self._set(
                    key, stream, fault, t, Severity.CRITICAL,
                    f"{s.channel_id}: sensor reads {s.quality}", None, None,
                )  # fmt: skip
        if not valued:
            return out
        if where in self._stale:
            self._last_valued_us[where] = max(t, self._last_valued_us.get(where, t))
            out += self._set(
                AlarmKey(AlarmKind.STALE, *where), "status", False, t,
                self._stale[where].severity, "", None, None,
            )  # fmt: skip
        rule = self._limits.get(where)
        if rule is not None:
            if rule.high is not None:
                beyond = v > rule.high
                back = v < rule.high - rule.deadband
                out += self._delayed(
                    AlarmKey(AlarmKind.HIGH, *where), stream, beyond, back, t, rule.delay_s,
                    rule.severity, f"{s.channel_id} = {v:g} above its high limit {rule.high:g}",
                    v, rule.high,
                )  # fmt: skip
            if rule.low is not None:
                beyond = v < rule.low
                back = v > rule.low + rule.deadband
                out += self._delayed(
                    AlarmKey(AlarmKind.LOW, *where), stream, beyond, back, t, rule.delay_s,
                    rule.severity, f"{s.channel_id} = {v:g} below its low limit {rule.low:g}",
                    v, rule.low,
                )  # fmt: skip
        rate = self._rates.get(where)
        if rate is not None:
            out += self._rate(s, stream, rate.max_per_min, rate.window_s, rate.severity)
        deviation = self._deviations.get(where)
        if deviation is not None and self.setpoints is not None:
            target = self.setpoints(s.chamber_id, deviation.quantity, t)
            key = AlarmKey(AlarmKind.DEVIATION, *where)
            if target is None:  # no open run sets it now: nothing to deviate from
                out += self._set(key, stream, False, t, deviation.severity, "", v, None)
            else:
                setpoint, tolerance = target
                off = abs(v - setpoint)
                out += self._delayed(
                    key, stream, off > tolerance, off <= tolerance, t, deviation.delay_s,
                    deviation.severity,
                    f"{s.channel_id} = {v:g} is {v - setpoint:+.3g} off the run's setpoint "
                    f"{setpoint:g} (tolerance ±{tolerance:g})",
                    v, setpoint,
                )  # fmt: skip
        return out

    def _rate(
        self, s: Sample, stream: object, limit: float, window_s: float, severity: Severity
    ) -> list[Transition]:
        window = self._history.setdefault(stream, deque())
        window.append((s.timestamp_us, s.value))
        while window and window[0][0] < s.timestamp_us - window_s * 1e6:
            window.popleft()
        t0, v0 = window[0]
        if s.timestamp_us - t0 < window_s * 1e6 / 2:
            return []  # too short a span to call a rate yet
        per_min = (s.value - v0) / (s.timestamp_us - t0) * 60e6
        return self._set(
            AlarmKey(AlarmKind.RATE, s.chamber_id, s.channel_id), stream, abs(per_min) > limit,
            s.timestamp_us, severity,
            f"{s.channel_id} changes {per_min:+.3g}/min, beyond ±{limit:g}/min", per_min, limit,
        )  # fmt: skip

    # Status: communication, memory, calibration, stale channels.

    def status(
        self,
        now_us: int,
        devices: Sequence[DeviceStatus] = (),
        channels: Sequence[ChannelStatus] = (),
    ) -> list[Transition]:
        out: list[Transition] = []
        r = self.rules
        for d in devices:
            if r.communication:
                out += self._set(
                    AlarmKey(AlarmKind.COMMUNICATION, d.chamber_id, d.device_id), "status",
                    d.offline, now_us, Severity.CRITICAL,
                    f"{d.device_id}: no usable answer (offline, its line down, or bad replies)",
                    None, None,
                )  # fmt: skip
            if r.memory_full_fraction is not None and d.unread_fraction is not None:
                out += self._set(
                    AlarmKey(AlarmKind.MEMORY, d.chamber_id, d.device_id), "status",
                    d.unread_fraction >= r.memory_full_fraction, now_us, Severity.CRITICAL,
                    f"{d.device_id}: {d.unread_fraction:.0%} of the logger's memory is unread "
                    "records; they are overwritten once it is full",
                    d.unread_fraction, r.memory_full_fraction,
                )  # fmt: skip
        for c in channels:
            if r.calibration and c.calibration_past_due is not None:
                out += self._set(
                    AlarmKey(AlarmKind.CALIBRATION, c.chamber_id, c.channel_id), "status",
                    c.calibration_past_due, now_us, Severity.WARNING,
                    f"{c.channel_id}: its calibration certificate is past due", None, None,
                )  # fmt: skip
        for (chamber_id, channel_id), rule in self._stale.items():
            last = self._last_valued_us.get((chamber_id, channel_id))
            old = last is None or now_us - last > rule.max_age_s * 1e6
            if old:  # cleared by the next valued sample, at its own time
                age = "no value yet" if last is None else f"none for {(now_us - last) / 1e6:.0f} s"
                out += self._set(
                    AlarmKey(AlarmKind.STALE, chamber_id, channel_id), "status", True, now_us,
                    rule.severity, f"{channel_id}: {age} (limit {rule.max_age_s:g} s)",
                    None, rule.max_age_s,
                )  # fmt: skip
        return out

    # The state machine.

    def _delayed(
        self,
        key: AlarmKey,
        stream: object,
        beyond: bool,
        back: bool,
        t: int,
        delay_s: float,
        severity: Severity,
        message: str,
        value: float | None,
        limit: float | None,
    ) -> list[Transition]:
        """Raised once beyond the limit for delay_s; cleared once `back` (the deadband)."""
        cond = self._alarms.setdefault(key, _Alarm()).streams.setdefault(stream, _Condition())
        if beyond:
            if cond.since_us is None:
                cond.since_us = t
            if not cond.active and t - cond.since_us >= delay_s * 1e6:
                return self._set(key, stream, True, t, severity, message, value, limit)
            return []
        cond.since_us = None
        if back:
            return self._set(key, stream, False, t, severity, message, value, limit)
        return []

    def _set(
        self,
        key: AlarmKey,
        stream: object,
        on: bool,
        t: int,
        severity: Severity,
        message: str,
        value: float | None,
        limit: float | None,
    ) -> list[Transition]:
        alarm = self._alarms.get(key)
        if alarm is None:
            if not on:
                return []  # never raised: nothing to clear
            alarm = self._alarms[key] = _Alarm()
        cond = alarm.streams.get(stream)
        if cond is None:
            cond = alarm.streams[stream] = _Condition()
        was = alarm.active
        cond.active = on
        if not on:
            cond.since_us = None
            alarm.streams.pop(_RESTORED, None)
        now = alarm.active
        if now == was:
            return []
        text = message if on else f"{key.subject}: {key.kind} cleared"
        return [Transition(key, now, t, severity, text, value, limit)]
