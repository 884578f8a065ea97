"""Tests for loggerd.calibration: certificates, their validation, and the corrections."""

from __future__ import annotations

import copy
import math
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from loggerd.core.errors import LoggerdError
from loggerd.processing.calibration import (
    COVERAGE_FACTOR,
    Certificate,
    CertificateError,
    correct,
    is_past_due,
    load_certificate,
    parse_certificate,
)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "certificates"
PT100 = DEPLOY / "example-pt100.toml"
RH_PROBE = DEPLOY / "example-rh-probe.toml"


def doc_of(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text("utf-8"))


def point(indicated: float, reference: float, u: float = 0.1, k: float = 2.0) -> dict[str, Any]:
    return {"indicated": indicated, "reference": reference, "expanded_uncertainty": u, "k": k}


def one_d(points: list[dict[str, Any]], **changes: Any) -> Certificate:
    doc: dict[str, Any] = {
        "id": "T-1",
        "laboratory": "Lab",
        "issued": date(2025, 1, 1),
        "due": date(2026, 1, 1),
        "version": 1,
        "quantity": "temperature",
        "unit": "°C",
        "points": points,
    }
    doc.update(changes)
    return Certificate.model_validate(doc)


# --- the shipped examples --------------------------------------------------------------------


def test_shipped_pt100_example() -> None:
    cert = load_certificate(PT100)
    assert cert.quantity == "temperature"
    assert cert.unit == "°C"
    assert not cert.is_two_dimensional
    assert cert.points is not None
    indicated = [p.indicated for p in cert.points]
    assert indicated[0] < -79.0 and indicated[-1] > 25.0
    for p in cert.points:
        # IEC 60751 class A tolerance: ±(0.15 + 0.002 |t|) °C.
        assert abs(p.indicated - p.reference) <= 0.15 + 0.002 * abs(p.reference)
        assert 0.0 < p.uncertainty_k2 <= 0.05
    assert not is_past_due(cert, cert.issued)


def test_shipped_rh_probe_example() -> None:
    cert = load_certificate(RH_PROBE)
    assert cert.quantity == "relative_humidity"
    assert cert.unit == "%RH"
    assert cert.is_two_dimensional
    assert cert.rows is not None
    assert [row.temperature_c for row in cert.rows] == [-40.0, -20.0, 0.0, 23.0]
    for row in cert.rows:
        references = [p.reference for p in row.points]
        assert references[0] == pytest.approx(5.0, abs=0.1)
        assert 60.0 <= references[-1] <= 80.5


# --- 1-D corrections -------------------------------------------------------------------------


def test_exact_at_table_points() -> None:
    cert = load_certificate(PT100)
    assert cert.points is not None
    indicated = np.array([p.indicated for p in cert.points])
    result = correct(cert, indicated)
    np.testing.assert_array_equal(result.corrected, [p.reference for p in cert.points])
    np.testing.assert_array_equal(
        result.expanded_uncertainty, [p.expanded_uncertainty for p in cert.points]
    )
    assert not result.out_of_range.any()


def test_linear_between_points() -> None:
    cert = one_d([point(-80.0, -80.2, 0.04), point(-40.0, -40.1, 0.02), point(20.0, 20.0, 0.02)])
    result = correct(cert, np.array([-60.0, -70.0, -10.0]))
    np.testing.assert_allclose(result.corrected, [-60.15, -70.175, -10.05], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.expanded_uncertainty, [0.03, 0.035, 0.02], atol=1e-12)


@given(st.floats(min_value=0.0, max_value=1.0))
def test_linear_within_a_segment(fraction: float) -> None:
    cert = load_certificate(PT100)
    assert cert.points is not None
    a, b = cert.points[1], cert.points[2]
    x = a.indicated + fraction * (b.indicated - a.indicated)
    result = correct(cert, x)
    expected = a.reference + fraction * (b.reference - a.reference)
    assert float(result.corrected) == pytest.approx(expected, abs=1e-12)


def test_out_of_range_is_flagged_never_extrapolated() -> None:
    cert = load_certificate(PT100)
    values = np.array([-79.88, -79.89, 25.05, 25.06, -100.0, math.nan, math.inf])
    result = correct(cert, values)
    assert result.out_of_range.tolist() == [False, True, False, True, True, False, True]
    assert np.isnan(result.corrected[[1, 3, 4, 5, 6]]).all()
    assert np.isnan(result.expanded_uncertainty[[1, 3, 4, 5, 6]]).all()
    assert np.isfinite(result.corrected[[0, 2]]).all()


def test_correction_keeps_the_raw_value_and_names_the_certificate() -> None:
    cert = load_certificate(PT100)
    raw = np.array([-70.0, -85.0, math.nan])
    result = correct(cert, raw)
    np.testing.assert_array_equal(result.indicated, raw)
    assert result.certificate_id == "EX-T-2025-0117"
    assert result.certificate_version == 1
    assert result.coverage_factor == COVERAGE_FACTOR == 2.0
    scalar = correct(cert, -70.0)
    assert scalar.corrected.shape == ()
    assert float(scalar.corrected) == pytest.approx(float(result.corrected[0]))


def test_history_is_corrected_again_with_a_replacing_certificate() -> None:
    old = load_certificate(PT100)
    doc = doc_of(PT100)
    doc["version"] = 2
    doc["issued"] = date(2026, 3, 1)
    doc["due"] = date(2027, 3, 1)
    for p in doc["points"]:
        p["reference"] += 0.01
    new = Certificate.model_validate(doc)
    raw = np.linspace(-79.0, 25.0, 50)
    before = correct(old, raw)
    after = correct(new, raw)
    np.testing.assert_allclose(after.corrected - before.corrected, 0.01, atol=1e-12)
    assert (before.certificate_version, after.certificate_version) == (1, 2)
    np.testing.assert_array_equal(after.indicated, raw)


def test_uncertainty_is_converted_to_k2() -> None:
    # U = 0.05 K at k = 1 is a standard uncertainty of 0.05 K: 0.10 K at k = 2.
    cert = one_d([point(0.0, 0.0, 0.05, 1.0), point(10.0, 10.0, 0.3, 3.0)])
    result = correct(cert, np.array([0.0, 5.0, 10.0]))
    np.testing.assert_allclose(result.expanded_uncertainty, [0.1, 0.15, 0.2], atol=1e-12)


@st.composite
def increasing_tables(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(min_value=2, max_value=8))
    xs = sorted(draw(st.sets(st.integers(min_value=-1000, max_value=1000), min_size=n, max_size=n)))
    offsets = draw(st.lists(st.floats(min_value=-0.3, max_value=0.3), min_size=n, max_size=n))
    # References increase with the indicated value (any sane sensor): steps of at least 0.4.
    return [
        point(x / 10.0, x / 10.0 + offset / 10.0) for x, offset in zip(xs, offsets, strict=True)
    ]


@given(increasing_tables(), st.lists(st.floats(min_value=-110.0, max_value=110.0), min_size=2))
def test_correction_is_monotone(points: list[dict[str, Any]], values: list[float]) -> None:
    cert = one_d(points)
    x = np.sort(np.array(values))
    result = correct(cert, x)
    inside = result.corrected[~result.out_of_range]
    # Monotone up to rounding: np.interp of two nearly equal x may differ by an ulp or so.
    assert (np.diff(inside) >= -1e-12).all()
    lo, hi = points[0]["indicated"], points[-1]["indicated"]
    np.testing.assert_array_equal(result.out_of_range, (x < lo) | (x > hi))


# --- 2-D corrections -------------------------------------------------------------------------


def test_2d_exact_at_every_node() -> None:
    cert = load_certificate(RH_PROBE)
    assert cert.rows is not None
    for row in cert.rows:
        x = np.array([p.indicated for p in row.points])
        result = correct(cert, x, row.temperature_c)
        np.testing.assert_array_equal(result.corrected, [p.reference for p in row.points])
        np.testing.assert_array_equal(
            result.expanded_uncertainty, [p.expanded_uncertainty for p in row.points]
        )
        assert not result.out_of_range.any()


@given(st.floats(min_value=-40.0, max_value=23.0), st.floats(min_value=6.1, max_value=62.9))
def test_2d_is_linear_in_rh_within_rows_then_linear_in_temperature(
    temperature_c: float, rh_pct: float
) -> None:
    cert = load_certificate(RH_PROBE)
    assert cert.rows is not None
    temps = [row.temperature_c for row in cert.rows]
    j = min(int(np.searchsorted(temps, temperature_c, side="right")) - 1, len(temps) - 2)
    w = (temperature_c - temps[j]) / (temps[j + 1] - temps[j])

    def along(row_index: int) -> float:
        points = cert.rows[row_index].points  # type: ignore[index]
        return float(
            np.interp(rh_pct, [p.indicated for p in points], [p.reference for p in points])
        )

    expected = (1.0 - w) * along(j) + w * along(j + 1)
    result = correct(cert, rh_pct, temperature_c)
    assert not bool(result.out_of_range)
    assert float(result.corrected) == pytest.approx(expected, abs=1e-9)


def test_2d_reproduces_a_bilinear_function_exactly() -> None:
    # reference = a + b x + c T + d x T on a grid is reproduced exactly by bilinear interpolation.
    def reference(x: float, t: float) -> float:
        return 0.5 + 0.97 * x - 0.01 * t + 0.0004 * x * t

    rh_nodes = [5.0, 20.0, 50.0, 80.0]
    temps = [-40.0, -10.0, 23.0]
    doc = {
        "id": "H-bilinear",
        "laboratory": "Lab",
        "issued": date(2025, 1, 1),
        "due": date(2026, 1, 1),
        "version": 3,
        "quantity": "relative_humidity",
        "unit": "%RH",
        "rows": [
            {"temperature_c": t, "points": [point(x, reference(x, t), 1.0) for x in rh_nodes]}
            for t in temps
        ],
    }
    cert = Certificate.model_validate(doc)
    xs, ts = np.meshgrid(np.linspace(5.0, 80.0, 31), np.linspace(-40.0, 23.0, 29))
    result = correct(cert, xs, ts)
    np.testing.assert_allclose(result.corrected, reference(xs, ts), atol=1e-9)  # type: ignore[arg-type]
    assert result.corrected.shape == xs.shape
    assert not result.out_of_range.any()


def test_2d_outside_the_hull_is_flagged() -> None:
    cert = load_certificate(RH_PROBE)
    cases = [
        (30.0, -40.5, True),  # colder than the coldest row
        (30.0, 23.5, True),  # warmer than the warmest row
        (70.0, -30.0, True),  # between -40 and -20 °C the -40 °C row ends at 62.9 %RH
        (82.6, -20.0, False),  # on the -20 °C row, which alone carries weight there
        (82.6, -20.001, True),  # just off it, the -40 °C row counts and does not reach 82.6
        (5.5, 0.0, False),
        (5.3, 0.0, True),  # below the 0 °C row's first point (5.4)
        (math.nan, 0.0, False),  # missing, not out of range
        (30.0, math.nan, False),
    ]
    rh = np.array([c[0] for c in cases])
    t = np.array([c[1] for c in cases])
    result = correct(cert, rh, t)
    assert result.out_of_range.tolist() == [c[2] for c in cases]
    assert np.isnan(result.corrected[result.out_of_range]).all()
    assert np.isnan(result.corrected[-2:]).all()
    assert np.isfinite(result.corrected[[3, 5]]).all()


def test_2d_needs_the_temperature() -> None:
    cert = load_certificate(RH_PROBE)
    with pytest.raises(ValueError, match=r"'EX-H-2025-0042' is a 2-D table .* needs temperature_c"):
        correct(cert, 30.0)


def test_1d_rh_certificate_ignores_the_temperature() -> None:
    cert = one_d(
        [point(5.0, 4.8, 1.0), point(80.0, 79.0, 1.5)], quantity="relative_humidity", unit="%RH"
    )
    assert float(correct(cert, 40.0, -70.0).corrected) == float(correct(cert, 40.0).corrected)


# --- due dates -------------------------------------------------------------------------------


def test_past_due() -> None:
    cert = load_certificate(PT100)
    assert cert.due == date(2026, 3, 12)
    assert not is_past_due(cert, date(2026, 3, 11))
    assert not is_past_due(cert, date(2026, 3, 12))  # valid through its due date
    assert is_past_due(cert, date(2026, 3, 13))


# --- validation ------------------------------------------------------------------------------


def invalid(mutate: Any, path: Path = PT100) -> str:
    doc = copy.deepcopy(doc_of(path))
    mutate(doc)
    with pytest.raises(ValidationError) as info:
        Certificate.model_validate(doc)
    return str(info.value)


def set_key(key: str, value: Any) -> Any:
    def mutate(doc: dict[str, Any]) -> None:
        doc[key] = value

    return mutate


def set_point(index: int, key: str, value: Any) -> Any:
    def mutate(doc: dict[str, Any]) -> None:
        doc["points"][index][key] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            set_point(2, "indicated", -59.91),
            "certificate 'EX-T-2025-0117': points[2] (indicated -59.91): indicated must be "
            "strictly greater than points[1]'s (-59.91)",
        ),
        (
            set_point(3, "indicated", -70.0),
            "points[3] (indicated -70): indicated must be strictly greater than points[2]'s",
        ),
        (
            set_point(1, "k", 0.0),
            "certificate 'EX-T-2025-0117': points[1] (indicated -59.91): k must be > 0, got 0",
        ),
        (
            set_point(4, "expanded_uncertainty", -0.02),
            "points[4] (indicated 0.01): expanded_uncertainty must be >= 0, got -0.02",
        ),
        (set_point(0, "reference", math.nan), "points[0] (indicated -79.88): reference must be"),
        (
            lambda d: d.__setitem__("points", d["points"][:1]),
            "certificate 'EX-T-2025-0117': points: needs at least 2 points, got 1",
        ),
        (
            set_key("due", date(2025, 3, 12)),
            "certificate 'EX-T-2025-0117': due date 2025-03-12 must be after the issue date",
        ),
        (set_key("version", 0), "certificate 'EX-T-2025-0117': version must be >= 1, got 0"),
        (set_key("unit", "°F"), "unit '°F' does not match quantity 'temperature' (expected '°C')"),
        (lambda d: d.pop("points"), "give either points (a 1-D table) or rows"),
        (
            set_key("rows", [{"temperature_c": 0.0, "points": []}]),
            "give either points (a 1-D table) or rows",
        ),
    ],
)
def test_validation_names_the_certificate_and_row(mutate: Any, expected: str) -> None:
    assert expected in invalid(mutate)


def set_row_point(row: int, index: int, key: str, value: Any) -> Any:
    def mutate(doc: dict[str, Any]) -> None:
        doc["rows"][row]["points"][index][key] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            set_row_point(1, 2, "k", -1.0),
            "certificate 'EX-H-2025-0042': rows[1] (temperature_c -20): points[2] "
            "(indicated 31.5): k must be > 0, got -1",
        ),
        (
            set_row_point(2, 3, "indicated", 30.0),
            "rows[2] (temperature_c 0): points[3] (indicated 30): indicated must be strictly "
            "greater than rows[2] (temperature_c 0): points[2]'s (30.9)",
        ),
        (
            lambda d: d["rows"][2].__setitem__("temperature_c", -20.0),
            "rows[2] (temperature_c -20): temperature_c must be strictly greater than "
            "rows[1]'s (-20)",
        ),
        (
            lambda d: d.__setitem__("rows", d["rows"][:1]),
            "rows: a 2-D table needs at least 2 rows, got 1",
        ),
        (
            lambda d: d["rows"][0].__setitem__("points", d["rows"][0]["points"][:1]),
            "rows[0] (temperature_c -40): points: needs at least 2 points, got 1",
        ),
        (
            lambda d: d.update(quantity="temperature", unit="°C"),
            "rows (a 2-D table) are only for relative_humidity",
        ),
    ],
)
def test_2d_validation_names_the_row(mutate: Any, expected: str) -> None:
    assert expected in invalid(mutate, RH_PROBE)


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line of `text` that contains `needle`."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_parse_errors_name_the_source_line_row_and_key() -> None:
    """One line a problem: file, line, row (named by what it indicated) and key."""
    text = PT100.read_text("utf-8")
    bad_type = text.replace(
        "k = 2.0\n\n[[points]]\nindicated = -39.94",
        'k = "two"\n\n[[points]]\nindicated = -39.94',
        1,
    )
    assert bad_type != text
    with pytest.raises(CertificateError) as info:
        parse_certificate(bad_type, "pt100.toml")
    message = str(info.value)
    line = line_of(bad_type, 'k = "two"')
    assert message.startswith(f"pt100.toml:{line}: points[1] (indicated -59.91).k:"), message
    assert "valid number" in message and "'two'" in message and "\n" not in message

    with pytest.raises(CertificateError) as info:
        parse_certificate('colour = "blue"\n' + text, "pt100.toml")
    assert str(info.value) == "pt100.toml:1: colour: unknown key (check the spelling)"

    no_lab = text.replace('laboratory = "', 'lab = "', 1).replace("\nlab =", "\n#lab =")
    with pytest.raises(CertificateError) as info:
        parse_certificate(no_lab, "pt100.toml")
    assert str(info.value) == "pt100.toml: laboratory: Field required"

    # A rule across rows: at the line of the key that breaks it, the row named.
    unordered = text.replace("indicated = -39.94", "indicated = -59.91")
    with pytest.raises(CertificateError) as info:
        parse_certificate(unordered, "pt100.toml")
    line = line_of(unordered, "reference = -40.006") - 1  # the third point's indicated
    assert str(info.value) == (
        f"pt100.toml:{line}: points[2] (indicated -59.91).indicated: indicated must be "
        "strictly greater than points[1]'s (-59.91); points are listed in increasing order"
    )

    rh = RH_PROBE.read_text("utf-8").replace(
        "{ indicated = 5.7, reference = 5.03, expanded_uncertainty = 1.2, k = 2.0 }",
        '{ indicated = 5.7, reference = 5.03, expanded_uncertainty = 1.2, k = "x" }',
    )
    with pytest.raises(CertificateError) as info:
        parse_certificate(rh, "rh.toml")
    line = line_of(rh, 'k = "x"')
    assert str(info.value).startswith(
        f"rh.toml:{line}: rows[1] (temperature_c -20.0).points[0] (indicated 5.7).k:"
    ), str(info.value)
    with pytest.raises(CertificateError, match=r"bad\.toml: not valid TOML"):
        parse_certificate("id = ", "bad.toml")


def test_load_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(CertificateError, match=r"missing\.toml: cannot read the certificate"):
        load_certificate(missing)
    assert issubclass(CertificateError, LoggerdError)
    assert issubclass(CertificateError, ValueError)


def test_certificates_are_immutable() -> None:
    cert = load_certificate(PT100)
    with pytest.raises(ValidationError):
        cert.version = 2  # type: ignore[misc]


@given(st.floats(min_value=-200.0, max_value=200.0, allow_nan=False))
def test_scalar_and_array_agree(x: float) -> None:
    cert = load_certificate(PT100)
    scalar = correct(cert, x)
    array = correct(cert, np.array([x]))
    assume(not bool(scalar.out_of_range))
    assert float(scalar.corrected) == float(array.corrected[0])
