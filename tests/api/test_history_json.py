"""History's raw JSON, encoded column by column: the same bytes as the response model gave
(recorded from the previous encoder, commit 2516eb6), and the range that holds too many raw
points refused before a row is read, with the max_points to ask for."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any
from unittest.mock import patch

import httpx
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from loggerd.api.app import create_app
from loggerd.api.encoding import raw_points_json
from loggerd.core.times import iso, iso_unique
from loggerd.storage.reader import SampleColumns

from .fakes import AIR, T0_US, FakeHistory, client, ports

SPAN = {"start": "2026-05-28T00:00:00Z", "end": "2026-06-28T00:00:00.5Z"}
# The rows of the recorded answer: a missing value (NULL), NaN and ±inf, times to the
# microsecond, the logger's own time, a large record number, text that JSON must escape.
ROWS: list[tuple[Any, ...]] = [
    (AIR.key, T0_US, -70.25, -70.3, "good", "host", None, None, None, None, None),
    (AIR.key, T0_US + 1, math.inf, -math.inf, "good", "host", None, None, None, None, None),
    (
        AIR.key, T0_US + 1_000_000, None, math.nan, "sensor_fault", "logger", 1007, 3,
        math.nan, "hardy1998", 250_000,
    ),
    (
        AIR.key, T0_US + 2_000_000, 1e-05, 0.1, "supersaturated", "logger", 2**40, None, 0.12,
        None, -1,
    ),
    (
        AIR.key, T0_US + 2_500_001, 123456789.125, -0.0, "good", "host", None, 2, 1e22,
        'ü"\\', None,
    ),
]  # fmt: skip
# What the response model (PointOut through FastAPI) answered for the same samples.
PREVIOUS = (
    b'{"chamber_id":"c1","start":"2026-05-28T00:00:00Z","end":"2026-06-28T00:00:00.500'
    b'000Z","units":{"air":"degC"},"series":null,"points":[{"channel":"air","timestamp'
    b'":"2026-05-28T20:26:40Z","value":-70.25,"raw_value":-70.3,"quality":"good","time'
    b'_source":"host","sequence":null,"logger_time":null,"uncertainty":null,"calibrati'
    b'on_version":null,"method":null,"min":null,"max":null,"count":null},{"channel":"a'
    b'ir","timestamp":"2026-05-28T20:26:40.000001Z","value":null,"raw_value":null,"qua'
    b'lity":"good","time_source":"host","sequence":null,"logger_time":null,"uncertaint'
    b'y":null,"calibration_version":null,"method":null,"min":null,"max":null,"count":n'
    b'ull},{"channel":"air","timestamp":"2026-05-28T20:26:41Z","value":null,"raw_value'
    b'":null,"quality":"sensor_fault","time_source":"logger","sequence":1007,"logger_t'
    b'ime":"2026-05-28T20:26:41.250000Z","uncertainty":null,"calibration_version":3,"m'
    b'ethod":"hardy1998","min":null,"max":null,"count":null},{"channel":"air","timesta'
    b'mp":"2026-05-28T20:26:42Z","value":0.00001,"raw_value":0.1,"quality":"supersatur'
    b'ated","time_source":"logger","sequence":1099511627776,"logger_time":"2026-05-28T'
    b'20:26:41.999999Z","uncertainty":0.12,"calibration_version":null,"method":null,"m'
    b'in":null,"max":null,"count":null},{"channel":"air","timestamp":"2026-05-28T20:26'
    b':42.500001Z","value":123456789.125,"raw_value":-0.0,"quality":"good","time_sourc'
    b'e":"host","sequence":null,"logger_time":null,"uncertainty":1e+22,"calibration_ve'
    b'rsion":2,"method":"\xc3\xbc\\"\\\\","min":null,"max":null,"count":null}]}'
)


class Recorded(FakeHistory):
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        super().__init__()
        self.rows = rows
        self.read: list[int] = []  # the limit of each columns() call

    def count(
        self, chamber_id: str, channel_ids: Sequence[str], start_us: int, end_us: int, at_most: int
    ) -> int:
        return min(at_most, len(self.rows))

    def columns(
        self, chamber_id: str, channel_ids: Sequence[str], start_us: int, end_us: int, limit: int
    ) -> SampleColumns:
        self.read.append(limit)
        return SampleColumns.of_rows(self.rows[:limit], {AIR.key: AIR.channel_id})


async def test_the_same_bytes_as_the_response_model_gave() -> None:
    async with client(Recorded(ROWS)) as http:
        r = await http.get("/api/v1/chambers/c1/history", params=SPAN)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.content == PREVIOUS


async def test_no_points_is_an_empty_list() -> None:
    async with client(Recorded([])) as http:
        r = await http.get("/api/v1/chambers/c1/history", params=SPAN)
    assert r.json()["points"] == []


async def test_more_raw_points_than_json_answers_is_refused_before_a_row_is_read() -> None:
    history = Recorded(ROWS)
    app = create_app(ports(history), max_raw_points=4)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://a"
    ) as http:
        refused = await http.get("/api/v1/chambers/c1/history", params=SPAN)
        limited = await http.get("/api/v1/chambers/c1/history", params={**SPAN, "limit": 3})
    assert refused.status_code == 422
    body = refused.json()
    assert body["max_points"] == 4
    assert body["detail"].startswith(
        "more than 4 points in this range (1 channel from 2026-05-28T00:00:00Z to "
        "2026-06-28T00:00:00.500000Z), more than JSON answers raw: ask for max_points=4 "
    )
    assert "format=csv" in body["detail"]
    # Refused on the count alone; a limit within the cap is answered without one.
    assert history.read == [3]
    assert [p["timestamp"] for p in limited.json()["points"]] == [iso(r[1]) for r in ROWS[:3]]


async def test_the_suggested_max_points_leaves_each_channel_the_same_share() -> None:
    from loggerd.api.routers.history import _too_many

    three = [AIR, AIR, AIR]
    body = _too_many(three, (T0_US, T0_US + 1), 200_000).body
    assert b'"max_points":99999' in body  # MAX_POINTS_LIMIT, shared evenly by 3
    assert b'"max_points":3' in _too_many(three, (T0_US, T0_US + 1), 2).body


@given(st.lists(st.integers(-(2**62), 2**62), max_size=50))
def test_iso_unique_is_iso_of_each(ts: list[int]) -> None:
    ts = [t for t in ts if -62135596800000000 <= t <= 253402300799999999]  # years 1-9999
    texts, where = iso_unique(np.array(ts, dtype=np.int64))
    assert texts[where].tolist() == [iso(t) for t in ts]


@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.floats()), st.one_of(st.none(), st.integers(0, 2**63 - 1))
        ),
        max_size=30,
    )
)
def test_numbers_are_as_the_model_wrote_them(values: list[tuple[float | None, int | None]]) -> None:
    """Each number parses back to itself, a float as a float and an int as an int; None, NaN
    and ±inf are null."""
    import orjson

    rows = [
        (AIR.key, T0_US + i, v, None, "good", "host", n, None, None, None, None)
        for i, (v, n) in enumerate(values)
    ]
    points = orjson.loads(b"[" + raw_points_json(SampleColumns.of_rows(rows, {1: "air"})) + b"]")
    for p, (v, n) in zip(points, values, strict=True):
        if v is None or not math.isfinite(v):
            assert p["value"] is None
        else:
            assert p["value"] == v and type(p["value"]) is float
        assert p["sequence"] == n


_NUMBER = st.one_of(st.none(), st.floats(), st.sampled_from([0.0, -0.0, 1e-05, 1e22]))
_TEXT = st.one_of(st.sampled_from(["good", "host", "ü", 'a,"b\\']), st.text(max_size=4))
_ROW = st.tuples(
    st.sampled_from([1, 2, 3]),  # channel key
    st.integers(0, 3).map(lambda i: T0_US + i * 500_001),
    _NUMBER,
    _NUMBER,
    _TEXT,
    _TEXT,
    st.one_of(st.none(), st.integers(0, 2**40)),
    st.one_of(st.none(), st.integers(0, 3)),
    _NUMBER,
    st.one_of(st.none(), _TEXT),
    st.one_of(st.none(), st.integers(-(10**7), 10**7)),
)


def _as_the_model_has_it(row: tuple[Any, ...], names: dict[int, str]) -> dict[str, Any]:
    """A row of SampleColumns.of_rows as a dict in PointOut's order."""
    key, ts, value, raw, quality, source, sequence, version, uncertainty, method, offset = row
    return {
        "channel": names[key],
        "timestamp": iso(ts),
        "value": value,
        "raw_value": raw,
        "quality": quality,
        "time_source": source,
        "sequence": sequence,
        "logger_time": None if offset is None else iso(ts + offset),
        "uncertainty": uncertainty,
        "calibration_version": version,
        "method": method,
        "min": None,
        "max": None,
        "count": None,
    }


@given(st.lists(_ROW, min_size=1, max_size=12), st.sampled_from([1, 2, 5, 65_536]))
def test_points_are_each_point_as_the_model_wrote_it(
    rows: list[tuple[Any, ...]], per_slice: int
) -> None:
    """Column by column, slice by slice: the text of the points one by one, each as a dict in
    PointOut's order (orjson writes None, NaN and ±inf as null)."""
    import orjson

    from loggerd.api import encoding

    names = {1: "air", 2: 'b,"ü', 3: "c"}
    one_by_one = [_as_the_model_has_it(row, names) for row in rows]
    with patch.object(encoding, "POINTS_PER_SLICE", per_slice):
        text = raw_points_json(SampleColumns.of_rows(rows, names))
    assert b"[" + text + b"]" == orjson.dumps(one_by_one)


def test_an_export_is_sent_in_pieces_of_about_a_megabyte_with_nothing_lost() -> None:
    from loggerd.api.routers.history import SEND_BYTES, _coalesced

    chunks = [bytes([i % 251]) * 150_000 for i in range(20)]  # 3 MB in 150 kB chunks
    sent = list(_coalesced(iter(chunks)))
    assert b"".join(sent) == b"".join(chunks)
    assert all(len(s) >= SEND_BYTES for s in sent[:-1]) and len(sent) == 3
    assert list(_coalesced(iter([]))) == []


def test_raw_value_is_written_apart_wherever_its_bits_differ_from_value() -> None:
    """An uncalibrated channel's raw_value is its value, written once for both; -0.0 beside 0.0
    is not the same (Arrow's equality would say it is)."""
    import orjson

    rows = [
        (AIR.key, T0_US + i, v, raw, "good", "host", None, None, None, None, None)
        for i, (v, raw) in enumerate([(1.5, 1.5), (0.0, -0.0), (None, None)])
    ]
    points = orjson.loads(b"[" + raw_points_json(SampleColumns.of_rows(rows, {1: "air"})) + b"]")
    assert [(p["value"], p["raw_value"]) for p in points] == [(1.5, 1.5), (0.0, 0.0), (None, None)]
    assert (
        math.copysign(1, points[1]["raw_value"]) == -1 and math.copysign(1, points[1]["value"]) == 1
    )
    same = [
        (AIR.key, T0_US + i, 2.25, 2.25, "good", "host", None, None, None, None, None)
        for i in range(3)
    ]
    assert all(
        p["raw_value"] == 2.25
        for p in orjson.loads(
            b"[" + raw_points_json(SampleColumns.of_rows(same, {1: "air"})) + b"]"
        )
    )
