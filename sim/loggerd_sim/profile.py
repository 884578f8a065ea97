"""Climatic-chamber test profiles for the simulator: setpoint ramps and soaks read from TOML."""

from __future__ import annotations

import bisect
import math
import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loggerd_protocol.toml_document import (
    KeyPath,
    LocatedValueError,
    TomlDocument,
    TomlDocumentError,
)

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


class ProfileError(ValueError):
    """A profile cannot be read or does not describe a valid chamber programme."""


class _Invalid(ProfileError, LocatedValueError):
    """A programme rule broken at a key: `step[1].rate_k_per_min` in a file, where its line is
    named; "[[step]] #2 (ramp): 'rate_k_per_min' …" for a Profile built in code."""


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
        _check_setpoint("start_temperature_c", self.start_temperature_c, "", ())
        _check_setpoint("start_frost_point_c", self.start_frost_point_c, "", ())
        if self.start_frost_point_c > self.start_temperature_c:
            raise _Invalid(
                ("start_frost_point_c",),
                f"must not exceed 'start_temperature_c' (air cannot hold more water than "
                f"saturation), got {self.start_frost_point_c:g} °C > "
                f"{self.start_temperature_c:g} °C",
                "'start_frost_point_c'",
            )
        if not self.steps:
            raise _Invalid(("step",), "expected at least one [[step]] table, found none")
        segments: list[_Segment] = []
        time_s = 0.0
        temperature_c = self.start_temperature_c
        frost_point_c = self.start_frost_point_c
        for number, step in enumerate(self.steps, start=1):
            where = f"[[step]] #{number} ({'ramp' if isinstance(step, RampStep) else 'soak'})"
            at = ("step", number - 1)
            if step.frost_point_c is not None:
                _check_setpoint("frost_point_c", step.frost_point_c, where, at)
                frost_point_c = step.frost_point_c
            if isinstance(step, RampStep):
                _check_setpoint("temperature_c", step.temperature_c, where, at)
                _check_positive("rate_k_per_min", step.rate_k_per_min, where, at, "K/min")
                duration_s = abs(step.temperature_c - temperature_c) / step.rate_k_per_min * 60.0
                target_c = step.temperature_c
            else:
                _check_positive(
                    "duration_min", step.duration_min, where, at, "min", allow_zero=True
                )
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


def _check_setpoint(key: str, value: float, where: str, at: KeyPath) -> None:
    if not SETPOINT_MIN_C <= value <= SETPOINT_MAX_C:  # also rejects NaN
        raise _Invalid(
            (*at, key),
            f"must be a temperature from {SETPOINT_MIN_C:g} °C to {SETPOINT_MAX_C:+g} °C, "
            f"got {value!r}",
            f"{where}: '{key}'" if where else f"'{key}'",
        )


def _check_positive(
    key: str, value: float, where: str, at: KeyPath, unit: str, *, allow_zero: bool = False
) -> None:
    valid = value >= 0.0 if allow_zero else value > 0.0
    if not (valid and math.isfinite(value)):
        bound = ">= 0" if allow_zero else "> 0"
        raise _Invalid(
            (*at, key),
            f"must be a finite number {bound} {unit}, got {value!r}",
            f"{where}: '{key}'",
        )


# The TOML file as written. A number is never a string or a boolean (`true` is not a temperature).
_Number = Annotated[float, Field(strict=True)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _RampDoc(_Table):
    kind: Literal["ramp"]
    temperature_c: _Number
    rate_k_per_min: _Number
    frost_point_c: _Number | None = None


class _SoakDoc(_Table):
    kind: Literal["soak"]
    duration_min: _Number
    frost_point_c: _Number | None = None


class _ProfileDoc(_Table):
    name: str
    start_temperature_c: _Number
    start_frost_point_c: _Number
    step: list[Annotated[_RampDoc | _SoakDoc, Field(discriminator="kind")]] = []

    @field_validator("name")
    @classmethod
    def _named(cls, name: str) -> str:
        if not name.strip():
            raise LocatedValueError((), f"must be a non-empty string, got {name!r}")
        return name

    @field_validator("step", mode="before")
    @classmethod
    def _an_array(cls, step: object) -> object:
        if isinstance(step, dict):
            raise LocatedValueError(
                (), "must be an array of tables written as [[step]], not a [step] table"
            )
        return step


def _profile(doc: TomlDocument) -> Profile:
    rows = doc.validate(_ProfileDoc)
    steps: list[Step] = [
        RampStep(s.temperature_c, s.rate_k_per_min, s.frost_point_c)
        if isinstance(s, _RampDoc)
        else SoakStep(s.duration_min, s.frost_point_c)
        for s in rows.step
    ]
    try:
        return Profile(rows.name, rows.start_temperature_c, rows.start_frost_point_c, tuple(steps))
    except _Invalid as exc:
        raise doc.error(exc.path, exc.message) from None


def parse_profile(text: str, source: str = "<string>") -> Profile:
    """Parse a profile from TOML text; `source` names it in error messages, which say the
    line and key: `test.toml:7: step[1] (…).rate_k_per_min: must be a finite number …`."""
    try:
        return _profile(TomlDocument.parse(text, source))
    except TomlDocumentError as exc:
        raise ProfileError(str(exc)) from None


def load_profile(path: str | os.PathLike[str]) -> Profile:
    """Read and parse a profile file (UTF-8 TOML)."""
    try:
        return _profile(TomlDocument.read(os.fspath(path), "the profile"))
    except TomlDocumentError as exc:
        raise ProfileError(str(exc)) from None


def builtin_profile(name: str = "cold_soak") -> Profile:
    """A profile shipped with the simulator (profiles/<name>.toml)."""
    entry = resources.files(__package__).joinpath("profiles", f"{name}.toml")
    if not entry.is_file():
        raise ProfileError(f"no built-in profile {name!r}; see sim/loggerd_sim/profiles/")
    return parse_profile(entry.read_text("utf-8"), source=f"built-in profile {name!r}")
