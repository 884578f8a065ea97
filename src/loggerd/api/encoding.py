"""History as JSON bytes, built column by column: a raw point's every field is encoded for
all points at once (orjson for numbers and names, one formatting of each distinct time), and
the points are joined with one template, never an object or a model per point.

The text is what HistoryOut's model gives (the OpenAPI's schema): the same keys in the same
order, null for a missing value, for NaN and for ±inf (JSON has none of them), ISO 8601 times.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from loggerd.core.times import iso_array
from loggerd.storage.reader import SampleColumns

__all__ = ["history_json", "raw_points_json"]

# PointOut's fields in its order; a raw point has no aggregates.
_RAW_POINT = (
    '{"channel":%s,"timestamp":"%s","value":%s,"raw_value":%s,"quality":%s,"time_source":%s,'
    '"sequence":%s,"logger_time":%s,"uncertainty":%s,"calibration_version":%s,"method":%s,'
    '"min":null,"max":null,"count":null}'
)


def _numbers(column: Sequence[float | int | None]) -> list[str]:
    """Each number as JSON (null for None, NaN and ±inf, as orjson writes them)."""
    if not column:
        return []
    # A JSON number never holds a comma: the array's text splits into its elements.
    return orjson.dumps(list(column)).decode()[1:-1].split(",")


def _strings(column: Sequence[str | None]) -> list[str]:
    """Each text as JSON (null for None), each distinct one encoded once."""
    table = {v: orjson.dumps(v).decode() for v in set(column)}
    return list(map(table.__getitem__, column))


def _logger_times(points: SampleColumns) -> list[str]:
    times, known = points.logger_time_us()
    if not known.any():
        return ["null"] * len(points)
    texts = iso_array(times)
    return [f'"{t}"' if k else "null" for t, k in zip(texts, known.tolist(), strict=True)]


def raw_points_json(points: SampleColumns) -> bytes:
    """The points of raw history, as the JSON array's elements (no brackets)."""
    if not len(points):
        return b""
    fields = (
        _strings(points.channel_id),
        iso_array(points.ts_us),
        _numbers(points.value),
        _numbers(points.raw_value),
        _strings(points.quality),
        _strings(points.time_source),
        _numbers(points.sequence),
        _logger_times(points),
        _numbers(points.uncertainty),
        _numbers(points.calibration_version),
        _strings(points.method),
    )
    return ",".join(map(_RAW_POINT.__mod__, zip(*fields, strict=True))).encode()


def history_json(head: dict[str, Any], points: bytes) -> bytes:
    """A HistoryOut body: `head` (every field but points) followed by the encoded points."""
    text = orjson.dumps({**head, "points": []})
    assert text.endswith(b"[]}")
    # The points go between the brackets of the empty list the text ends with.
    return text[:-2] + points + b"]}"
