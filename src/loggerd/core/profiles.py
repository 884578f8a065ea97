"""A test profile: what a chamber was asked to do, segment by segment, and a test run under one.

A profile is a list of segments, each a ramp (from the previous setpoint to its own, over its
duration) or a soak (holding its setpoint), with targets for temperature and for humidity —
humidity as relative humidity, frost point or ppmv, whichever the test specification states.
Each target has its tolerance, in the target's own unit. Profiles come from JSON or TOML
written by people, so every error names the segment and the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from loggerd.core.errors import ConfigError

Quantity = Literal["temperature_c", "rh_pct", "frost_point_c", "ppmv"]
QUANTITIES: tuple[Quantity, ...] = get_args(Quantity)
SegmentKind = Literal["ramp", "soak"]


@dataclass(frozen=True)
class Target:
    quantity: Quantity
    setpoint: float
    tolerance: float  # ± in the quantity's unit
    start: float | None = None  # a ramp's starting value, when not the setpoint before it


@dataclass(frozen=True)
class Segment:
    kind: SegmentKind
    duration_s: float
    targets: tuple[Target, ...]
    name: str = ""

    def target(self, quantity: Quantity) -> Target | None:
        return next((t for t in self.targets if t.quantity == quantity), None)


@dataclass(frozen=True)
class Profile:
    segments: tuple[Segment, ...]

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.segments)

    def starts_s(self) -> list[float]:
        """Each segment's start, seconds from the start of the run."""
        out, at = [], 0.0
        for s in self.segments:
            out.append(at)
            at += s.duration_s
        return out

    def setpoint_at(self, quantity: Quantity, offset_s: float) -> float | None:
        """The setpoint of `quantity` at `offset_s` into the run: a soak's, or on a ramp the
        straight line from the setpoint before it; None outside the profile or where no
        segment sets it."""
        for i, (start, seg) in enumerate(zip(self.starts_s(), self.segments, strict=True)):
            if not start <= offset_s < start + seg.duration_s:
                continue
            target = seg.target(quantity)
            if target is None:
                return None
            if seg.kind == "soak":
                return target.setpoint
            before = self.ramp_start(quantity, i)
            assert before is not None  # checked when the profile was made
            return before + (target.setpoint - before) * (offset_s - start) / seg.duration_s
        return None

    def target_at(self, quantity: Quantity, offset_s: float) -> tuple[float, float] | None:
        """The setpoint and tolerance of `quantity` at `offset_s` into the run (None where no
        segment sets it)."""
        setpoint = self.setpoint_at(quantity, offset_s)
        if setpoint is None:
            return None
        for start, seg in zip(self.starts_s(), self.segments, strict=True):
            target = seg.target(quantity)
            if start <= offset_s < start + seg.duration_s and target is not None:
                return setpoint, target.tolerance
        return None

    def ramp_start(self, quantity: Quantity, index: int) -> float | None:
        """Where segment `index` ramps `quantity` from: its own `start`, or the setpoint
        before it."""
        target = self.segments[index].target(quantity)
        if target is not None and target.start is not None:
            return target.start
        return self._setpoint_before(quantity, index)

    def _setpoint_before(self, quantity: Quantity, index: int) -> float | None:
        for seg in reversed(self.segments[:index]):
            target = seg.target(quantity)
            if target is not None:
                return target.setpoint
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "segments": [
                {
                    "kind": s.kind,
                    "duration_s": s.duration_s,
                    **({"name": s.name} if s.name else {}),
                    **{
                        t.quantity: {
                            "setpoint": t.setpoint,
                            "tolerance": t.tolerance,
                            **({} if t.start is None else {"start": t.start}),
                        }
                        for t in s.targets
                    },
                }
                for s in self.segments
            ]
        }


def parse_profile(data: Mapping[str, Any], where: str = "profile") -> Profile:
    """A profile from its JSON/TOML form:

    {"segments": [{"kind": "ramp", "duration_s": 5400,
                   "temperature_c": {"setpoint": -70, "tolerance": 2}}, ...]}
    """
    raw = data.get("segments") if isinstance(data, Mapping) else None
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise ConfigError(f"{where}: needs a list of segments under 'segments'")
    segments = [_segment(s, f"{where}: segment {i + 1}") for i, s in enumerate(raw)]
    profile = Profile(tuple(segments))
    for i, seg in enumerate(segments):
        if seg.kind != "ramp":
            if any(t.start is not None for t in seg.targets):
                raise ConfigError(f"{where}: segment {i + 1}: start is for a ramp, not a soak")
            continue
        for t in seg.targets:
            if profile.ramp_start(t.quantity, i) is None:
                raise ConfigError(
                    f"{where}: segment {i + 1} ramps {t.quantity} with no setpoint before it: "
                    "give the ramp a start, or begin with a soak that sets it"
                )
    return profile


def _segment(raw: Any, where: str) -> Segment:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a table of kind, duration_s and targets")
    known = {"kind", "duration_s", "name", *QUANTITIES}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown field {unknown[0]!r}; a segment has kind, duration_s, name and "
            f"targets among {', '.join(QUANTITIES)}"
        )
    kind: SegmentKind
    if raw.get("kind") == "ramp":
        kind = "ramp"
    elif raw.get("kind") == "soak":
        kind = "soak"
    else:
        raise ConfigError(f"{where}: kind must be 'ramp' or 'soak', got {raw.get('kind')!r}")
    duration = _number(raw.get("duration_s"), f"{where}: duration_s")
    if duration <= 0:
        raise ConfigError(f"{where}: duration_s must be above 0, got {duration}")
    targets = []
    for q in QUANTITIES:
        if q in raw:
            targets.append(_target(q, raw[q], f"{where}: {q}"))
    if not targets:
        raise ConfigError(f"{where}: sets no target: give one of {', '.join(QUANTITIES)}")
    if sum(t.quantity != "temperature_c" for t in targets) > 1:
        raise ConfigError(
            f"{where}: humidity is set twice: give one of rh_pct, frost_point_c, ppmv"
        )
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise ConfigError(f"{where}: name must be text")
    return Segment(kind, duration, tuple(targets), name)


def _target(quantity: Quantity, raw: Any, where: str) -> Target:
    if not isinstance(raw, Mapping) or set(raw) - {"setpoint", "tolerance", "start"}:
        raise ConfigError(
            f"{where}: must be {{setpoint = ..., tolerance = ...}} (a ramp may add start = ...)"
        )
    setpoint = _number(raw.get("setpoint"), f"{where}: setpoint")
    tolerance = _number(raw.get("tolerance"), f"{where}: tolerance")
    if tolerance < 0:
        raise ConfigError(f"{where}: tolerance is ±, give it as a number of 0 or more")
    if quantity == "rh_pct" and not 0 <= setpoint <= 100:
        raise ConfigError(f"{where}: setpoint {setpoint} %RH is not within 0..100")
    if quantity == "ppmv" and setpoint < 0:
        raise ConfigError(f"{where}: setpoint {setpoint} ppmv is below 0")
    start = None if raw.get("start") is None else _number(raw["start"], f"{where}: start")
    return Target(quantity, setpoint, tolerance, start)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Run:
    """A test run: a chamber under a profile for a span of time (open while running)."""

    id: int
    chamber_id: str
    test_id: str
    unit_under_test: str
    operator: str
    start_us: int
    end_us: int | None
    profile: Profile
    created_us: int
    notes: str = ""

    @property
    def open(self) -> bool:
        return self.end_us is None
