"""The spool's binary sample batches: every field of every sample back exactly (NaN, ±inf and
None kept apart, 64-bit integers, any text), a payload of an earlier loggerd's JSON spool still
read, and the store's rows made from the columns as they were from Samples."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.storage.payloads import SAMPLES, decode, decode_samples, encode
from loggerd.storage.sample_batch import MAGIC, SampleBatch
from loggerd.storage.spool import Spool
from loggerd.storage.store import Store
from loggerd.storage.writer import Writer

from .conftest import T0_US

_floats = st.floats(allow_nan=True, allow_infinity=True)
_ints = st.integers(-(2**63), 2**63 - 1)
_samples = st.builds(
    Sample,
    st.text(max_size=8),
    st.text(max_size=8),
    _ints,
    _floats,
    _floats,
    st.sampled_from(Quality),
    st.sampled_from(TimeSource),
    st.none() | _ints,
    st.none() | st.integers(-(2**31), 2**31 - 1),
    st.none() | _floats,
    st.none() | st.text(max_size=12),
    st.none() | _ints,
)


def _same(a: object, b: object) -> bool:
    """Equal, with NaN equal to NaN (and to nothing else) and -0.0 told from 0.0."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    return a == b and type(a) is type(b)


@given(st.lists(_samples, max_size=40))
def test_every_field_of_every_sample_comes_back_exactly(samples: list[Sample]) -> None:
    payload = encode(SAMPLES, samples)
    assert payload.startswith(MAGIC)
    back = decode(SAMPLES, payload)
    assert len(back) == len(samples)
    for got, sent in zip(back, samples, strict=True):
        for name in Sample.__dataclass_fields__:
            assert _same(getattr(got, name), getattr(sent, name)), (name, got, sent)
        assert type(got.quality) is Quality and type(got.time_source) is TimeSource


def test_a_truncated_or_foreign_payload_is_refused() -> None:
    payload = encode(SAMPLES, [Sample("c1", "t1", T0_US, 1.0, 1.0, Quality.GOOD, TimeSource.HOST)])
    with pytest.raises(ValueError):
        SampleBatch.from_bytes(payload[:-1])
    with pytest.raises(ValueError):
        SampleBatch.from_bytes(payload + b"\0")
    with pytest.raises(ValueError):
        SampleBatch.from_bytes(b"LGSB\x02" + payload[5:])


def _legacy_json(samples: list[Sample]) -> bytes:
    """A payload as loggerd spooled samples before the binary batches (JSON rows)."""
    rows = [
        [
            s.chamber_id, s.channel_id, s.timestamp_us, s.value, s.raw_value, str(s.quality),
            str(s.time_source), s.sequence, s.calibration_version, s.uncertainty, s.method,
            s.clock_offset_us,
        ]
        for s in samples
    ]  # fmt: skip
    return json.dumps(rows, separators=(",", ":")).encode()


SAMPLES_3 = [
    Sample("c1", "t1", T0_US, 20.5, 20.4, Quality.GOOD, TimeSource.LOGGER, 7, 2, None, None, 5),
    Sample("c1", "t2", T0_US, math.nan, math.nan, Quality.MISSING, TimeSource.HOST),
    Sample("c1", "t3", T0_US, math.inf, 1.0, Quality.GOOD, TimeSource.HOST, None, None, math.nan),
]


def test_an_earlier_loggerds_json_payload_is_read() -> None:
    back = decode_samples(_legacy_json(SAMPLES_3)).samples()
    assert back[0] == SAMPLES_3[0]
    assert math.isnan(back[1].value) and back[2].value == math.inf


def test_rows_from_columns_are_the_rows_from_samples(store: Store) -> None:
    writer = store.sample_writer
    cutoff = T0_US + 1
    later = [Sample("c1", "t1", T0_US + 5, 1.0, 1.0, Quality.GOOD, TimeSource.HOST)]
    rows = writer.rows(SampleBatch.from_bytes(encode(SAMPLES, SAMPLES_3 + later)), None)
    key = {c: store.channel("c1", c).key for c in ("t1", "t2", "t3")}
    assert rows == [
        (key["t1"], T0_US, 20.5, 20.4, "good", "logger", 7, 2, None, None, 5),
        (key["t2"], T0_US, None, None, "missing", "host", None, None, None, None, None),
        (key["t3"], T0_US, math.inf, 1.0, "good", "host", None, None, None, None, None),
        (key["t1"], T0_US + 5, 1.0, 1.0, "good", "host", None, None, None, None, None),
    ]
    assert writer.rows(SAMPLES_3 + later, cutoff) == rows[3:]  # older than the cutoff: not kept


async def test_a_spool_an_earlier_loggerd_left_drains_beside_new_entries(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "spool.db"
    with Spool(path) as spool:
        spool.append(SAMPLES, 3, _legacy_json(SAMPLES_3))
    spool = Spool(path)
    writer = Writer(store, spool=spool)
    await writer.start()
    newer = [Sample("c1", "t1", T0_US + 1_000_000, 21.0, 21.0, Quality.GOOD, TimeSource.HOST)]
    await writer.submit(newer)
    await writer.flushed()
    await writer.stop()
    spool.close()
    assert writer.written == 4 and store.count() == 4
    assert [(s.channel_id, s.value) for s in store.history("c1", ["t1"], T0_US, T0_US + 10**7)] == [
        ("t1", 20.5),
        ("t1", 21.0),
    ]
