"""Calibration-certificate corrections for temperature and RH channels: pure and vectorised.

A certificate holds (indicated, reference, expanded uncertainty, k) points, for RH probes
optionally one row of them per calibration temperature. `correct` interpolates the reference
piecewise-linearly in the indicated value (bilinearly in RH and temperature for a 2-D table),
never extrapolates (out-of-range values come back NaN and flagged), and returns the raw values
unchanged with the certificate id and version, so history can be corrected again when a
certificate is replaced. Corrections come before anything is derived; the temperature of a 2-D
table is the corrected temperature at the probe.

Uncertainty convention: each point's expanded uncertainty is converted to k = 2 (U_2 = 2 U / k,
normal distribution assumed) and interpolated linearly like the reference. It is the
calibration's uncertainty carried between its points, not the full uncertainty of a corrected
reading (drift, resolution and interpolation error are not in it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, model_validator

from loggerd.core.errors import LoggerdError
from loggerd_protocol.toml_document import (
    KeyPath,
    LocatedValueError,
    TomlDocument,
    TomlDocumentError,
)

__all__ = [
    "COVERAGE_FACTOR",
    "UNITS",
    "CalibrationPoint",
    "CalibrationRow",
    "Certificate",
    "CertificateError",
    "Correction",
    "MeasuredQuantity",
    "correct",
    "is_past_due",
    "load_certificate",
    "parse_certificate",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ArrayInput = npt.NDArray[np.floating[Any]] | npt.NDArray[np.integer[Any]]
MeasuredQuantity = Literal["temperature", "relative_humidity"]

# The coverage factor of every uncertainty `correct` returns.
COVERAGE_FACTOR: Final = 2.0
UNITS: Final[dict[str, str]] = {"temperature": "°C", "relative_humidity": "%RH"}


class CertificateError(TomlDocumentError, LoggerdError):
    """A certificate that cannot be used: one problem a line, each naming the file, the line,
    the row and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CalibrationPoint(_Strict):
    """One line of a certificate: what the channel indicated, what the laboratory's reference
    measured, and the expanded uncertainty of that reference value at coverage factor k."""

    indicated: float
    reference: float
    expanded_uncertainty: float
    k: float

    @property
    def uncertainty_k2(self) -> float:
        """The expanded uncertainty converted to k = 2."""
        return self.expanded_uncertainty * COVERAGE_FACTOR / self.k


class CalibrationRow(_Strict):
    """The points of a 2-D RH table measured at one temperature."""

    temperature_c: float
    points: tuple[CalibrationPoint, ...]


def _g(value: float) -> str:
    return f"{value:g}"


def _check_points(points: tuple[CalibrationPoint, ...], name: str, table: str, at: KeyPath) -> None:
    """Validate a table; messages read "<name>: <table>[i] (indicated x): ...", and carry the
    key path `at` + (i, key) so that the loader names the line."""
    if len(points) < 2:
        raise LocatedValueError(
            at, f"needs at least 2 points, got {len(points)}", f"{name}: {table}"
        )
    for i, point in enumerate(points):
        here = f"{name}: {table}[{i}] (indicated {_g(point.indicated)})"
        for key in ("indicated", "reference", "expanded_uncertainty", "k"):
            if not math.isfinite(getattr(point, key)):
                raise LocatedValueError((*at, i, key), f"{key} must be a finite number", here)
        if not point.k > 0.0:
            raise LocatedValueError((*at, i, "k"), f"k must be > 0, got {_g(point.k)}", here)
        if point.expanded_uncertainty < 0.0:
            raise LocatedValueError(
                (*at, i, "expanded_uncertainty"),
                f"expanded_uncertainty must be >= 0, got {_g(point.expanded_uncertainty)}",
                here,
            )
        if i > 0 and not point.indicated > points[i - 1].indicated:
            raise LocatedValueError(
                (*at, i, "indicated"),
                f"indicated must be strictly greater than {table}[{i - 1}]'s "
                f"({_g(points[i - 1].indicated)}); points are listed in increasing order",
                here,
            )


class Certificate(_Strict):
    """A channel's calibration certificate, validated on construction.

    Exactly one of `points` (a 1-D table in the indicated value) and `rows` (a 2-D table for
    relative humidity: one row of RH points per calibration temperature) is given. Errors
    (a `ValueError`, pydantic's `ValidationError`) name the certificate id and the row.
    """

    id: str
    laboratory: str
    issued: date
    due: date
    version: int
    quantity: MeasuredQuantity
    unit: str
    points: tuple[CalibrationPoint, ...] | None = None
    rows: tuple[CalibrationRow, ...] | None = None

    @model_validator(mode="after")
    def _validate(self) -> Certificate:
        name = f"certificate {self.id!r}"
        if not self.id.strip():
            raise LocatedValueError(("id",), "certificate id must not be empty")
        if not self.laboratory.strip():
            raise LocatedValueError(("laboratory",), "laboratory must not be empty", name)
        if self.version < 1:
            raise LocatedValueError(("version",), f"version must be >= 1, got {self.version}", name)
        if not self.due > self.issued:
            raise LocatedValueError(
                ("due",), f"due date {self.due} must be after the issue date {self.issued}", name
            )
        expected_unit = UNITS[self.quantity]
        if self.unit != expected_unit:
            raise LocatedValueError(
                ("unit",),
                f"unit {self.unit!r} does not match quantity {self.quantity!r} "
                f"(expected {expected_unit!r})",
                name,
            )
        if (self.points is None) == (self.rows is None):
            raise LocatedValueError(
                (),
                "give either points (a 1-D table) or rows (a 2-D table in RH and temperature), "
                "not both or neither",
                name,
            )
        if self.points is not None:
            _check_points(self.points, name, "points", ("points",))
        if self.rows is not None:
            self._check_rows(self.rows, name)
        return self

    def _check_rows(self, rows: tuple[CalibrationRow, ...], name: str) -> None:
        if self.quantity != "relative_humidity":
            raise LocatedValueError(
                ("rows",), "rows (a 2-D table) are only for relative_humidity", name
            )
        if len(rows) < 2:
            raise LocatedValueError(
                ("rows",),
                f"a 2-D table needs at least 2 rows, got {len(rows)} (use points for a single "
                "temperature)",
                f"{name}: rows",
            )
        for r, row in enumerate(rows):
            row_name = f"rows[{r}] (temperature_c {_g(row.temperature_c)})"
            here = f"{name}: {row_name}"
            if not math.isfinite(row.temperature_c):
                raise LocatedValueError(
                    ("rows", r, "temperature_c"), "temperature_c must be a finite number", here
                )
            if r > 0 and not row.temperature_c > rows[r - 1].temperature_c:
                raise LocatedValueError(
                    ("rows", r, "temperature_c"),
                    f"temperature_c must be strictly greater than rows[{r - 1}]'s "
                    f"({_g(rows[r - 1].temperature_c)}); rows are listed in increasing order",
                    here,
                )
            _check_points(row.points, name, f"{row_name}: points", ("rows", r, "points"))

    @property
    def is_two_dimensional(self) -> bool:
        return self.rows is not None


@dataclass(frozen=True)
class Correction:
    """The result of `correct`, one element per input value (numpy arrays, 0-d for scalars).

    `indicated` is the raw value, unchanged. `corrected` and `expanded_uncertainty` (at
    k = `coverage_factor` = 2) are NaN where the value is missing or outside the table;
    `out_of_range` is True only for the latter (a missing value is not out of range).
    """

    indicated: FloatArray
    corrected: FloatArray
    expanded_uncertainty: FloatArray
    out_of_range: BoolArray
    certificate_id: str
    certificate_version: int
    coverage_factor: float = COVERAGE_FACTOR


def _interpolate(
    x: FloatArray, points: tuple[CalibrationPoint, ...]
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Reference and k = 2 uncertainty at x, piecewise linear; NaN and a flag outside."""
    xs = np.array([p.indicated for p in points])
    refs = np.array([p.reference for p in points])
    us = np.array([p.uncertainty_k2 for p in points])
    outside: BoolArray = (x < xs[0]) | (x > xs[-1])  # NaN compares false: missing, not outside
    value = np.where(outside, np.nan, np.interp(x, xs, refs))
    uncertainty = np.where(outside, np.nan, np.interp(x, xs, us))
    return value, uncertainty, outside


def _blend(w: FloatArray, low: FloatArray, high: FloatArray) -> FloatArray:
    # At w = 0 or 1 only one row counts (it may be the only one covering x): exact at nodes.
    mixed = (1.0 - w) * low + w * high
    result: FloatArray = np.where(w == 0.0, low, np.where(w == 1.0, high, mixed))
    return result


def _interpolate_2d(
    x: FloatArray, t: FloatArray, rows: tuple[CalibrationRow, ...]
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Bilinear in (indicated RH, temperature): linear in RH within the two rows around t, then
    linear in t between them. Outside the hull (t outside the rows, or x outside a row that
    carries weight) the result is NaN and flagged."""
    row_t = np.array([row.temperature_c for row in rows])
    per_row = [_interpolate(x, row.points) for row in rows]
    values = np.stack([v for v, _, _ in per_row])
    uncertainties = np.stack([u for _, u, _ in per_row])
    outside_rows = np.stack([o for _, _, o in per_row])
    t_outside = (t < row_t[0]) | (t > row_t[-1])
    lower = np.clip(np.searchsorted(row_t, t, side="right") - 1, 0, len(rows) - 2)
    upper = lower + 1
    # A missing temperature gives w = NaN, hence a NaN result that is not flagged.
    w = np.clip((t - row_t[lower]) / (row_t[upper] - row_t[lower]), 0.0, 1.0)

    def pick(stack: npt.NDArray[Any], index: npt.NDArray[np.intp]) -> npt.NDArray[Any]:
        chosen: npt.NDArray[Any] = np.take_along_axis(stack, index[np.newaxis, ...], axis=0)[0]
        return chosen

    low_outside = pick(outside_rows, lower) & (w < 1.0)
    high_outside = pick(outside_rows, upper) & (w > 0.0)
    outside: BoolArray = t_outside | low_outside | high_outside
    value = _blend(w, pick(values, lower), pick(values, upper))
    uncertainty = _blend(w, pick(uncertainties, lower), pick(uncertainties, upper))
    return (
        np.where(outside, np.nan, value),
        np.where(outside, np.nan, uncertainty),
        outside,
    )


def correct(
    cert: Certificate,
    indicated: float | ArrayInput,
    temperature_c: float | ArrayInput | None = None,
) -> Correction:
    """Correct indicated values with a certificate; vectorised over numpy arrays.

    1-D table: linear interpolation of the reference value in the indicated value between
    neighbouring points (exact at the points). 2-D RH table: bilinear in (indicated RH,
    temperature_c), which is then required and broadcast against `indicated`; for a 1-D table
    it is ignored. No extrapolation: values outside the table (for 2-D, outside the rows'
    temperatures or outside the RH span of a row that carries weight) give NaN with
    `out_of_range` set. See `Correction` for the result and the module docstring for the
    uncertainty convention (k = 2).
    """
    x = np.asarray(indicated, dtype=np.float64)
    if cert.rows is not None:
        if temperature_c is None:
            raise ValueError(
                f"certificate {cert.id!r} is a 2-D table in (RH, temperature): correct() "
                "needs temperature_c"
            )
        x, t = np.broadcast_arrays(x, np.asarray(temperature_c, dtype=np.float64))
        value, uncertainty, outside = _interpolate_2d(x, t, cert.rows)
    elif cert.points is not None:
        value, uncertainty, outside = _interpolate(x, cert.points)
    else:  # pragma: no cover - the validator requires one of the two tables
        raise AssertionError(f"certificate {cert.id!r} has no table")
    return Correction(
        indicated=x,
        corrected=value,
        expanded_uncertainty=uncertainty,
        out_of_range=outside,
        certificate_id=cert.id,
        certificate_version=cert.version,
    )


def is_past_due(cert: Certificate, on: date) -> bool:
    """True once the due date has passed: a certificate is valid up to and including its due
    date, and a channel whose certificate is past due is flagged."""
    return on > cert.due


# Rows of a certificate are named by their temperature, points by what the channel indicated.
_NAMING = ("temperature_c", "indicated")


def parse_certificate(text: str, source: str = "<certificate>") -> Certificate:
    """A certificate from TOML text (format: deploy/certificates/*.toml). Raises
    `CertificateError`, one line a problem: `file:line: rows[1] (temperature_c -20.0).points[0]
    (indicated 5.7).k: problem`."""
    try:
        return TomlDocument.parse(text, source, _NAMING).validate(Certificate)
    except TomlDocumentError as exc:
        raise CertificateError(exc.problems) from None


def load_certificate(path: str | Path) -> Certificate:
    """Read and validate a certificate file (TOML)."""
    try:
        return TomlDocument.read(path, "the certificate", _NAMING).validate(Certificate)
    except TomlDocumentError as exc:
        raise CertificateError(exc.problems) from None
