"""A download's records processed together give, sample for sample, what processing them one
record at a time gives: corrected values, derived values and their uncertainties, qualities and
flags, stamps, and the inputs remembered for the records after.

Values agree to the last bits, not always in them: one record at a time the formulations meet
numpy scalars (np.float64), whose power is the C library's, and in a batch arrays, whose power
is numpy's own loop; the two differ by an ulp now and then (seen in uncertainties)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.processing import humidity
from loggerd.processing.batch import process_records
from loggerd.processing.calibration import load_certificate
from loggerd.processing.pipeline import Calibration, ChamberProcessor, DerivedSpec, Processing

CERTS = Path(__file__).resolve().parents[2] / "deploy" / "certificates"
PT100 = load_certificate(CERTS / "example-pt100.toml")
RH_PROBE = load_certificate(CERTS / "example-rh-probe.toml")  # 2-D: needs the probe's temperature
T0 = 1_780_000_000_000_000
LAYOUT = ("t", "rh", "p", "logger_fp", "wall")

DERIVED = [
    DerivedSpec("fp", "frost_point", "t", "rh", check_channel="logger_fp", check_limit=0.5),
    DerivedSpec("td", "frost_dew_point", "t", "rh", u_temperature_k=0.1, u_rh_pct=1.0),
    DerivedSpec("dp", "dew_point", "t", "rh", formulation=humidity.Formulation.SONNTAG1990),
    DerivedSpec("ice", "rh_over_ice", "t", "rh"),
    DerivedSpec("h2o", "ppmv", "t", "rh", pressure_channel="p", u_temperature_k=0.2),
    DerivedSpec("w", "mixing_ratio", "t", "rh", pressure_hpa=900.0),
    DerivedSpec("ah", "absolute_humidity", "t", "rh", max_input_age_s=0.5),
    DerivedSpec("x", "mole_fraction", "wall", "rh_other", pressure_hpa=1000.0),
    DerivedSpec(
        "mk",
        "frost_dew_point",
        "t",
        "rh",
        formulation=humidity.Formulation.MURPHY_KOOP2005,
        u_temperature_k=0.05,
        u_rh_pct=0.5,
    ),
]


def processors() -> tuple[ChamberProcessor, ChamberProcessor]:
    """Two processors of one configuration: one for the batch, one for the reference."""

    def make() -> ChamberProcessor:
        return ChamberProcessor(
            "c",
            {"t": Calibration(PT100), "rh": Calibration(RH_PROBE, probe_temperature_channel="t")},
            DERIVED,
        )

    return make(), make()


QUALITIES = st.sampled_from(
    [Quality.GOOD] * 6 + [Quality.MISSING, Quality.SENSOR_FAULT, Quality.SUPERSATURATED]
)
# Temperatures and RH across and beyond the certificates' tables and the formulations' ranges;
# NaN is a missing reading.
TEMPERATURES = st.one_of(
    st.floats(-110.0, 120.0), st.sampled_from([math.nan, -85.0, -40.0, 0.0, 25.05])
)
RHS = st.one_of(st.floats(-5.0, 120.0), st.sampled_from([math.nan, 0.0, 6.1, 100.0]))
PRESSURES = st.one_of(st.floats(0.0, 1200.0), st.just(math.nan))


@st.composite
def records(draw: st.DrawFn) -> list[Sample]:
    count = draw(st.integers(2, 12))
    logger_stamped = True  # records from a logger's memory: live polls come one by one
    offset = draw(st.integers(-5_000_000, 5_000_000))
    first = draw(st.integers(1, 1000))
    samples = []
    for r in range(count):
        ts = T0 + r * 1_000_000
        values = {
            "t": draw(TEMPERATURES),
            "rh": draw(RHS),
            "p": draw(PRESSURES),
            "logger_fp": draw(st.floats(-90.0, 30.0)),
            "wall": draw(TEMPERATURES),
        }
        for channel in LAYOUT:
            quality = draw(QUALITIES)
            raw = values[channel]
            value = raw if quality is not Quality.MISSING else math.nan
            samples.append(
                Sample(
                    "c",
                    channel,
                    ts,
                    value,
                    raw,
                    quality,
                    TimeSource.LOGGER if logger_stamped else TimeSource.HOST,
                    sequence=first + r if logger_stamped else None,
                    clock_offset_us=offset if logger_stamped else None,
                )
            )
    return samples


class Close(float):
    """A float equal to another within a few ulps, and NaN equal to NaN."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, float):
            return False
        if math.isnan(self) or math.isnan(other):
            return math.isnan(self) and math.isnan(other)
        return math.isclose(self, other, rel_tol=1e-12, abs_tol=1e-12)

    def __hash__(self) -> int:
        return 0


def comparable(samples: list[Sample]) -> list[tuple[object, ...]]:
    """Samples as tuples whose floats compare as Close: everything else exactly."""

    def key(v: object) -> object:
        return Close(v) if isinstance(v, float) else v

    return [
        tuple(key(getattr(s, f)) for f in Sample.__dataclass_fields__)  # type: ignore[attr-defined]
        for s in samples
    ]


def by_record(samples: list[Sample], width: int) -> list[list[Sample]]:
    return [samples[i : i + width] for i in range(0, len(samples), width)]


def remembered(p: ChamberProcessor) -> dict[str, tuple[object, ...]]:
    out = {}
    for channel in sorted({*LAYOUT, *(s.channel_id for s in DERIVED), "rh_other"}):
        latest = p.latest(channel)
        if latest is not None:
            values = (latest.timestamp_us, latest.value, latest.quality, latest.uncertainty)
            out[channel] = tuple(Close(v) if isinstance(v, float) else v for v in values)
    return out


@given(records(), st.one_of(st.none(), st.integers(-3_000_000, 15_000_000)))
def test_a_batch_of_records_equals_them_processed_one_by_one(
    samples: list[Sample], remembered_at: int | None
) -> None:
    batch, reference = processors()
    if remembered_at is not None:
        # An input no record carries ("rh_other"), remembered from earlier: young enough for
        # none, some or all of the records (max_input_age_s 10 s, records 1 s apart).
        earlier = Sample(
            "c", "rh_other", T0 + remembered_at, 40.0, 40.0, Quality.GOOD, TimeSource.HOST
        )
        batch.remember(earlier)
        reference.remember(earlier)
    expected = [s for record in by_record(samples, len(LAYOUT)) for s in reference.process(record)]
    got = process_records(batch, samples, len(LAYOUT))
    assert got is not None  # the batch path took it: nothing here needs record by record
    assert comparable(got) == comparable(expected)
    assert remembered(batch) == remembered(reference)


def test_processing_takes_a_download_window_as_one_batch() -> None:
    """Processing hands a window of records to the batch path, and the result is the one of
    its records one by one (including a record of another layout after them)."""
    batch, reference = processors()
    rng = np.random.default_rng(11)
    samples = []
    for r in range(50):
        for channel in LAYOUT:
            raw = float(rng.uniform(-45.0, 20.0)) if channel != "rh" else float(rng.uniform(5, 60))
            samples.append(
                Sample(
                    "c",
                    channel,
                    T0 + r * 10**6,
                    raw,
                    raw,
                    Quality.GOOD,
                    TimeSource.LOGGER,
                    r + 1,
                    clock_offset_us=0,
                )
            )
    processing = Processing({}, {"c": batch})
    expected = [s for record in by_record(samples, len(LAYOUT)) for s in reference.process(record)]
    assert comparable(processing.process(samples)) == comparable(expected)
    fp = [s for s in expected if s.channel_id == "fp"]
    assert len(fp) == 50 and all(s.sequence is not None for s in fp)


def test_a_configuration_that_chains_derived_channels_goes_record_by_record() -> None:
    chained = ChamberProcessor(
        "c", {}, [DerivedSpec("td", "dew_point", "t", "rh"), DerivedSpec("x", "ppmv", "td", "rh")]
    )
    samples = [
        Sample("c", c, T0 + r * 10**6, 10.0, 10.0, Quality.GOOD, TimeSource.LOGGER, r + 1)
        for r in range(3)
        for c in ("t", "rh")
    ]
    assert not chained.batchable
    assert process_records(chained, samples, 2) is None


def test_a_value_does_not_depend_on_the_batch_it_is_computed_in() -> None:
    """The batch path rests on this: the frost point of one reading is the same, bit for bit,
    computed alone as among others that need more Newton steps (a converged element stays
    where it is)."""
    rng = np.random.default_rng(5)
    t = rng.uniform(-70.0, 0.0, 500)
    rh = rng.uniform(5.0, 100.0, 500)
    together = humidity.frost_point_c(t, rh)
    alone = [float(humidity.frost_point_c(t[i : i + 1], rh[i : i + 1])[0]) for i in range(500)]
    assert together.tolist() == alone
