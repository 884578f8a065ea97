"""Calibration corrections come first, derived humidity channels are computed from corrected
values, raw values stay untouched, and disagreements and supersaturation are flagged."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest

from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.processing import humidity
from loggerd.processing.calibration import correct, load_certificate
from loggerd.processing.pipeline import Calibration, ChamberProcessor, DerivedSpec

CERTS = Path(__file__).resolve().parents[2] / "deploy" / "certificates"
PT100 = load_certificate(CERTS / "example-pt100.toml")
RH_PROBE = load_certificate(CERTS / "example-rh-probe.toml")
T0 = 1_780_000_000_000_000


def sample(channel: str, value: float, quality: Quality = Quality.GOOD, ts: int = T0) -> Sample:
    v = value if quality is Quality.GOOD else math.nan
    return Sample("c", channel, ts, v, value, quality, TimeSource.HOST)


def processor(**spec: object) -> ChamberProcessor:
    derived = DerivedSpec(
        channel_id="fp", quantity="frost_point", temperature_channel="t", rh_channel="rh", **spec
    )  # type: ignore[arg-type]
    return ChamberProcessor(
        "c",
        {"t": Calibration(PT100), "rh": Calibration(RH_PROBE, probe_temperature_channel="t")},
        [derived],
        today=lambda: date(2025, 6, 1),
    )


def by_id(samples: list[Sample]) -> dict[str, Sample]:
    return {s.channel_id: s for s in samples}


def test_corrections_then_derivation_from_corrected_values() -> None:
    out = by_id(processor().process([sample("t", -30.0), sample("rh", 20.0)]))
    t, rh, fp = out["t"], out["rh"], out["fp"]
    expected_t = float(correct(PT100, -30.0).corrected)
    assert t.raw_value == -30.0 and t.value == pytest.approx(expected_t)
    assert t.value != t.raw_value and t.calibration_version == PT100.version
    assert t.uncertainty is not None and t.uncertainty > 0
    # The 2-D RH table is evaluated at the corrected probe temperature.
    expected_rh = float(correct(RH_PROBE, 20.0, expected_t).corrected)
    assert rh.raw_value == 20.0 and rh.value == pytest.approx(expected_rh)
    assert fp.value == pytest.approx(humidity.frost_point_c(expected_t, expected_rh))
    assert fp.method == "hardy1998" and fp.quality is Quality.GOOD
    # The frost point's uncertainty is propagated from both certificates' uncertainties.
    assert fp.uncertainty == pytest.approx(
        humidity.frost_point_uncertainty_k(expected_t, expected_rh, t.uncertainty, rh.uncertainty)
    )


def test_no_extrapolation_outside_the_certificate() -> None:
    out = by_id(processor().process([sample("t", -85.0), sample("rh", 20.0)]))
    assert out["t"].quality is Quality.CAL_OUT_OF_RANGE
    assert math.isnan(out["t"].value) and out["t"].raw_value == -85.0
    assert out["fp"].quality is Quality.MISSING and math.isnan(out["fp"].value)


def test_formulation_is_a_per_channel_setting() -> None:
    p = processor(formulation=humidity.Formulation.MURPHY_KOOP2005)
    fp = by_id(p.process([sample("t", -30.0), sample("rh", 20.0)]))["fp"]
    hardy = by_id(processor().process([sample("t", -30.0), sample("rh", 20.0)]))["fp"]
    assert fp.method == "murphy_koop2005" and fp.value != pytest.approx(hardy.value, abs=1e-4)


def test_logger_frost_point_is_cross_checked() -> None:
    p = processor(check_channel="logger_fp", check_limit=0.5)
    computed = by_id(p.process([sample("t", -30.0), sample("rh", 20.0)]))["fp"].value
    near = by_id(
        p.process([sample("t", -30.0), sample("rh", 20.0), sample("logger_fp", computed + 0.2)])
    )
    assert near["logger_fp"].quality is Quality.GOOD
    far = by_id(
        p.process([sample("t", -30.0), sample("rh", 20.0), sample("logger_fp", computed + 0.8)])
    )
    assert far["logger_fp"].quality is Quality.INCONSISTENT
    assert far["logger_fp"].value == computed + 0.8  # flagged, not removed


def test_rh_over_ice_above_100_percent_is_flagged() -> None:
    p = ChamberProcessor("c", {}, [DerivedSpec("fp", "frost_point", "t", "rh")])
    # At -30 °C ice saturation is about 74 %RH over water: 90 %RH is supersaturated over ice.
    fp = by_id(p.process([sample("t", -30.0), sample("rh", 90.0)]))["fp"]
    assert fp.quality is Quality.SUPERSATURATED and fp.has_value


def test_missing_or_stale_inputs_give_a_missing_derived_sample() -> None:
    p = ChamberProcessor("c", {}, [DerivedSpec("fp", "frost_point", "t", "rh", max_input_age_s=5)])
    out = by_id(p.process([sample("t", -30.0), sample("rh", math.nan, Quality.MISSING)]))
    assert out["fp"].quality is Quality.MISSING
    p.process([sample("rh", 20.0, ts=T0)])
    later = by_id(p.process([sample("t", -30.0, ts=T0 + 60_000_000)]))
    assert later["fp"].quality is Quality.MISSING  # the RH reading is a minute old


def test_ppmv_and_its_uncertainty_from_configured_input_uncertainties() -> None:
    p = ChamberProcessor(
        "c",
        {},
        [
            DerivedSpec(
                "h2o", "ppmv", "t", "rh", pressure_hpa=1000.0, u_temperature_k=0.1, u_rh_pct=1.0
            )
        ],
    )
    out = by_id(p.process([sample("t", -70.0), sample("rh", 5.0)]))["h2o"]
    assert out.value == pytest.approx(humidity.ppmv(-70.0, 5.0, 1000.0))
    assert out.uncertainty == pytest.approx(humidity.ppmv_uncertainty(-70.0, 5.0, 0.1, 1.0, 1000.0))


def test_past_due_certificate() -> None:
    p = processor()
    assert not p.past_due("t")  # 2025-06-01 is before the due date
    late = ChamberProcessor("c", {"t": Calibration(PT100)}, [], today=lambda: date(2026, 11, 26))
    assert late.past_due("t") and not late.past_due("rh")


def test_derivation_above_zero_celsius() -> None:
    # Warm and humid: a dew point, no ice anywhere; RH over ice is not defined above 0 °C.
    p = ChamberProcessor("c", {}, [DerivedSpec("td", "frost_dew_point", "t", "rh")])
    td = by_id(p.process([sample("t", 25.0), sample("rh", 38.0)]))["td"]
    assert td.quality is Quality.GOOD
    assert td.value == pytest.approx(humidity.dew_point_c(25.0, 38.0))
