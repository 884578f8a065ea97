"""Valid ranges: the error raised outside them, and the checks that raise it."""

from __future__ import annotations

from typing import Final

import numpy as np

from loggerd.processing.humidity._arrays import BoolArray, FloatArray
from loggerd.processing.humidity.formulations import _Curve, _range_text

# Conversions between kelvin and degrees Celsius leave float noise of ~1e-13 K on range ends
# (273.16 K - 273.15 K != 0.01): a temperature that close to an end counts as on it.
_RANGE_SLACK_K: Final = 1e-9


class HumidityRangeError(ValueError):
    """A value lies outside the range in which a humidity formulation is valid."""


def _describe(values: FloatArray, bad: BoolArray, unit: str) -> str:
    offending = np.atleast_1d(values)[np.atleast_1d(bad)]
    first = f"{float(offending[0]):g} {unit}"
    if values.ndim == 0 or values.size == 1:
        return first
    return f"{first} (first of {offending.size} of {values.size} values out of range)"


def _temperature_bad(temperature_c: FloatArray, lo_c: float, hi_c: float) -> BoolArray:
    # NaN compares false and passes through: a missing reading stays missing, it is no error.
    bad: BoolArray = (temperature_c < lo_c - _RANGE_SLACK_K) | (
        temperature_c > hi_c + _RANGE_SLACK_K
    )
    return bad


def _check_temperature(temperature_c: FloatArray, curve: _Curve) -> None:
    bad = _temperature_bad(temperature_c, curve.min_c, curve.max_c)
    if np.any(bad):
        raise HumidityRangeError(
            f"temperature {_describe(temperature_c, bad, '°C')} is outside the valid range of "
            f"the {curve.name} ({_range_text(curve)})"
        )


def _rh_bad(rh_pct: FloatArray, *, allow_zero: bool) -> BoolArray:
    bad: BoolArray = rh_pct < 0.0 if allow_zero else rh_pct <= 0.0
    return bad


def _check_rh(rh_pct: FloatArray, *, allow_zero: bool) -> None:
    bad = _rh_bad(rh_pct, allow_zero=allow_zero)
    if np.any(bad):
        limit = ">= 0" if allow_zero else "> 0 (no dew or frost point exists for dry air)"
        raise HumidityRangeError(
            f"relative humidity {_describe(rh_pct, bad, '%RH')} is invalid: it must be {limit}"
        )
