"""Climatic-chamber test profiles for the simulator: setpoint ramps and soaks read from TOML."""

from __future__ import annotations

import bisect
import math
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Final

__all__ = [
    "Profile",
    "ProfileError",
    "RampStep",
    "SoakStep",
    "Step",
    "load_profile",
    "parse_profile",
]

# Setpoints stay a few kelvin inside the -100...+100 °C range of the Hardy (1998) formulations
# the chamber's humidity model uses, leaving room for overshoot and spatial gradients.
SETPOINT_MIN_C: Final = -95.0
SETPOINT_MAX_C: Final = 95.0

_TOP_LEVEL_KEYS: Final = ("name", "start_temperature_c", "start_frost_point_c", "step")
_STEP_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "ramp": ("kind", "temperature_c", "rate_k_per_min", "frost_point_c"),
    "soak": ("kind", "duration_min", "frost_point_c"),
}


class ProfileError(ValueError):
    """A profile cannot be read or does not describe a valid chamber programme."""


@dataclass(frozen=True)
class RampStep:
    """Move the temperature setpoint at a fixed rate to a target."""

    temperature_c: float
    rate_k_per_min: float
    # Target for the chamber's frost/dew point from the start of this step; None holds the
    # previous target.
    frost_point_c: float | None = None


@dataclass(frozen=True)
class SoakStep:
    """Hold the temperature setpoint."""

    duration_min: float
    frost_point_c: float | None = None


Step = RampStep | SoakStep


@dataclass(frozen=True)
class _Segment:
    start_s: float
    end_s: float
    start_temperature_c: float
    end_temperature_c: float
    frost_point_target_c: float


@dataclass(frozen=True)
class Profile:
    """A chamber programme: start conditions and a sequence of ramps and soaks.

    Validated on construction; an invalid value raises `ProfileError` naming the step and key.
    """

    name: str
    start_temperature_c: float
    start_frost_point_c: float
    steps: tuple[Step, ...]
    # Derived timeline, so setpoint_at is a bisection rather than a walk over the steps.
    _segments: tuple[_Segment, ...] = field(init=False, repr=False, compare=False)
    _segment_starts_s: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_setpoint("start_temperature_c", self.start_temperature_c)
        _check_setpoint("start_frost_point_c", self.start_frost_point_c)
        if self.start_frost_point_c > self.start_temperature_c:
            raise ProfileError(
                f"'start_frost_point_c' must not exceed 'start_temperature_c' (air cannot hold "
                f"more water than saturation), got {self.start_frost_point_c:g} °C > "
                f"{self.start_temperature_c:g} °C"
            )
        if not self.steps:
            raise ProfileError("expected at least one [[step]] table, found none")
        segments: list[_Segment] = []
        time_s = 0.0
        temperature_c = self.start_temperature_c
        frost_point_c = self.start_frost_point_c
        for number, step in enumerate(self.steps, start=1):
            where = f"[[step]] #{number} ({'ramp' if isinstance(step, RampStep) else 'soak'})"
            if step.frost_point_c is not None:
                _check_setpoint("frost_point_c", step.frost_point_c, where)
                frost_point_c = step.frost_point_c
            if isinstance(step, RampStep):
                _check_setpoint("temperature_c", step.temperature_c, where)
                _check_positive("rate_k_per_min", step.rate_k_per_min, where, "K/min")
                duration_s = abs(step.temperature_c - temperature_c) / step.rate_k_per_min * 60.0
                target_c = step.temperature_c
            else:
                _check_positive("duration_min", step.duration_min, where, "min", allow_zero=True)
                duration_s = step.duration_min * 60.0
                target_c = temperature_c
            segments.append(
                _Segment(time_s, time_s + duration_s, temperature_c, target_c, frost_point_c)
            )
            time_s += duration_s
            temperature_c = target_c
        object.__setattr__(self, "_segments", tuple(segments))
        object.__setattr__(self, "_segment_starts_s", tuple(s.start_s for s in segments))

    @property
    def duration_s(self) -> float:
        """Seconds from the start of the first step to the end of the last."""
        return self._segments[-1].end_s

    def setpoint_at(self, t_s: float) -> tuple[float, float]:
        """(temperature setpoint °C, frost/dew point target °C) at `t_s` seconds from start.

        Before the start the chamber sits at the start conditions; after the last step it
        holds the last setpoint and target.
        """
        if math.isnan(t_s):
            raise ValueError("t_s must be a number, got NaN")
        if t_s < 0.0:
            return self.start_temperature_c, self.start_frost_point_c
        # bisect_right skips zero-length steps to the last one starting at t_s, whose target
        # is the one that holds from then on.
        segment = self._segments[bisect.bisect_right(self._segment_starts_s, t_s) - 1]
        if t_s >= segment.end_s:
            return segment.end_temperature_c, segment.frost_point_target_c
        fraction = (t_s - segment.start_s) / (segment.end_s - segment.start_s)
        temperature_c = segment.start_temperature_c + fraction * (
            segment.end_temperature_c - segment.start_temperature_c
        )
        return temperature_c, segment.frost_point_target_c


def _check_setpoint(key: str, value: float, where: str = "") -> None:
    if not SETPOINT_MIN_C <= value <= SETPOINT_MAX_C:  # also rejects NaN
        prefix = f"{where}: " if where else ""
        raise ProfileError(
            f"{prefix}'{key}' must be a temperature from {SETPOINT_MIN_C:g} °C to "
            f"{SETPOINT_MAX_C:+g} °C, got {value!r}"
        )


def _check_positive(
    key: str, value: float, where: str, unit: str, *, allow_zero: bool = False
) -> None:
    valid = value >= 0.0 if allow_zero else value > 0.0
    if not (valid and math.isfinite(value)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ProfileError(
            f"{where}: '{key}' must be a finite number {bound} {unit}, got {value!r}"
        )


def _number(table: dict[str, object], key: str, where: str) -> float:
    if key not in table:
        raise ProfileError(f"{where}: missing required key '{key}' (a number)")
    value = table[key]
    # bool is an int subclass in Python; `true` is never a temperature.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProfileError(f"{where}: '{key}' must be a number, got {value!r}")
    return float(value)


def _optional_number(table: dict[str, object], key: str, where: str) -> float | None:
    return _number(table, key, where) if key in table else None


def _reject_unknown_keys(table: dict[str, object], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ProfileError(
            f"{where}: unknown key {unknown[0]!r}; expected one of {', '.join(allowed)}"
        )


def _parse_step(raw: object, number: int) -> Step:
    where = f"[[step]] #{number}"
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: expected a table, got {raw!r}")
    kind = raw.get("kind")
    if kind not in _STEP_KEYS:
        raise ProfileError(
            f"{where}: 'kind' must be one of {', '.join(repr(k) for k in _STEP_KEYS)}, got {kind!r}"
        )
    where = f"{where} ({kind})"
    _reject_unknown_keys(raw, _STEP_KEYS[kind], where)
    frost_point_c = _optional_number(raw, "frost_point_c", where)
    if kind == "ramp":
        return RampStep(
            temperature_c=_number(raw, "temperature_c", where),
            rate_k_per_min=_number(raw, "rate_k_per_min", where),
            frost_point_c=frost_point_c,
        )
    return SoakStep(duration_min=_number(raw, "duration_min", where), frost_point_c=frost_point_c)


def _parse_document(document: dict[str, object]) -> Profile:
    _reject_unknown_keys(document, _TOP_LEVEL_KEYS, "top level")
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ProfileError(f"top level: 'name' must be a non-empty string, got {name!r}")
    raw_steps = document.get("step", [])
    if not isinstance(raw_steps, list):
        raise ProfileError(
            f"top level: 'step' must be an array of tables written as [[step]], got {raw_steps!r}"
        )
    return Profile(
        name=name,
        start_temperature_c=_number(document, "start_temperature_c", "top level"),
        start_frost_point_c=_number(document, "start_frost_point_c", "top level"),
        steps=tuple(_parse_step(raw, number) for number, raw in enumerate(raw_steps, start=1)),
    )


def parse_profile(text: str, source: str = "<string>") -> Profile:
    """Parse a profile from TOML text; `source` names it in error messages."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}") from exc
    try:
        return _parse_document(document)
    except ProfileError as exc:
        raise ProfileError(f"{source}: {exc}") from None


def load_profile(path: str | os.PathLike[str]) -> Profile:
    """Read and parse a profile file (UTF-8 TOML)."""
    source = os.fspath(path)
    try:
        with open(path, "rb") as file:
            text = file.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{source}: cannot read profile: {exc}") from exc
    return parse_profile(text, source)


def builtin_profile(name: str = "cold_soak") -> Profile:
    """A profile shipped with the simulator (profiles/<name>.toml)."""
    entry = resources.files(__package__).joinpath("profiles", f"{name}.toml")
    if not entry.is_file():
        raise ProfileError(f"no built-in profile {name!r}; see sim/loggerd_sim/profiles/")
    return parse_profile(entry.read_text("utf-8"), source=f"built-in profile {name!r}")
