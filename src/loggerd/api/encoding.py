"""History as JSON bytes, built column by column: each field of a raw point is made text for
all points at once (orjson for numbers and names, one formatting of each distinct time and
name), and Arrow joins the fields of each point, never an object, a model or a formatting
per point in Python.

The text is what HistoryOut's model gives (the OpenAPI's schema): the same keys in the same
order, null for a missing value, for NaN and for ±inf (JSON has none of them), ISO 8601 times.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from loggerd.core.times import iso_unique
from loggerd.storage.reader import SampleColumns

__all__ = ["history_json", "raw_points_json"]

# A field as text: the same for every point, or one for each (an Arrow string array).
Field: TypeAlias = "str | pa.StringArray"

# Points encoded at a time: Arrow's strings hold at most 2 GiB each, and a slice's
# intermediate arrays stay small.
POINTS_PER_SLICE = 65_536
_COMMA = ord(",")


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _numbers(column: pa.Array) -> Field:
    """Each number as JSON followed by a comma (null for null, NaN and ±inf, as orjson writes
    them)."""
    n = len(column)
    if column.null_count == n:
        return "null,"
    if pa.types.is_floating(column.type):
        values = column.to_numpy(zero_copy_only=False)  # null is NaN, and so written null
    else:
        values = column.fill_null(0).to_numpy()
    # orjson writes the array; a JSON number never holds a comma, so the commas cut it into
    # its elements, each with the comma after it.
    text = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)
    body = np.frombuffer(text, np.uint8)[1:].copy()
    body[-1] = _COMMA  # the closing bracket
    ends = np.flatnonzero(body == _COMMA) + 1
    offsets = np.zeros(n + 1, np.int32)
    offsets[1:] = ends
    texts = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(body))
    if column.null_count and not pa.types.is_floating(column.type):
        texts = pc.if_else(column.is_valid(), texts, "null,")
    return texts


def _same_bits(a: pa.Array, b: pa.Array) -> bool:
    """Whether two float columns are written alike: the same bits, as _numbers reads them (not
    Arrow's equality, for which -0.0 is 0.0)."""
    x, y = a.to_numpy(zero_copy_only=False), b.to_numpy(zero_copy_only=False)
    return x.shape == y.shape and bool(np.array_equal(x.view(np.int64), y.view(np.int64)))


def _strings(column: pa.Array) -> Field:
    """Each text as JSON (null for null), each distinct one encoded once."""
    if not isinstance(column, pa.DictionaryArray):
        column = column.dictionary_encode(null_encoding="encode")
    texts = [_json(v) for v in column.dictionary.to_pylist()]
    if len(texts) == 1:
        return texts[0]
    return pa.array(texts, pa.string()).take(column.indices)


def _times(ts_us: Any, before: str, after: str) -> pa.StringArray:
    """Each time as ISO 8601 text, between `before` and `after`, each distinct one formatted
    once."""
    ts = np.asarray(ts_us)
    if len(ts) > 1 and bool(np.all(ts[1:] >= ts[:-1])):
        # In time order (as history is): the distinct times without sorting them again.
        new = np.empty(len(ts), np.bool_)
        new[0] = True
        np.not_equal(ts[1:], ts[:-1], out=new[1:])
        texts, _ = iso_unique(ts[new])
        where = np.cumsum(new) - 1
    else:
        texts, where = iso_unique(ts)
    return pa.array(np.strings.add(np.strings.add(before, texts), after)).take(where)


def _logger_times(points: SampleColumns) -> Field:
    """The logger's own time of each point as JSON (a quoted time, or null)."""
    times, known = points.logger_time_us()
    if not known.any():
        return "null"
    return pc.if_else(known, _times(times, '"', '"'), "null")


def _fields(points: SampleColumns) -> list[Field]:
    """The text of each point, in pieces: PointOut's fields in its order (a raw point has no
    aggregates), each point followed by a comma."""
    values = _numbers(points.value)
    # Uncalibrated channels store raw_value as value: their text is made once.
    same = _same_bits(points.raw_value, points.value)
    return [
        '{"channel":',
        _strings(points.channel_id),
        ',"timestamp":',
        _times(points.ts_us, '"', '"'),
        ',"value":',
        values,
        '"raw_value":',
        values if same else _numbers(points.raw_value),
        '"quality":',
        _strings(points.quality),
        ',"time_source":',
        _strings(points.time_source),
        ',"sequence":',
        _numbers(points.sequence),
        '"logger_time":',
        _logger_times(points),
        ',"uncertainty":',
        _numbers(points.uncertainty),
        '"calibration_version":',
        _numbers(points.calibration_version),
        '"method":',
        _strings(points.method),
        ',"min":null,"max":null,"count":null},',
    ]


def _joined(fields: list[Field], n: int) -> pa.Buffer | bytes:
    """The pieces of n points joined, point after point: Arrow's element-wise join (texts the
    same for every point run together first, so that fewer are joined)."""
    parts: list[Field] = []
    for f in fields:
        if isinstance(f, str) and parts and isinstance(parts[-1], str):
            parts[-1] += f
        else:
            parts.append(f)
    if len(parts) == 1:
        assert isinstance(parts[0], str)
        return parts[0].encode() * n
    points = pc.binary_join_element_wise(*parts, "")
    # The array's characters are the points one after another; its end is its last offset.
    offsets = np.frombuffer(points.buffers()[1], np.int32)
    return points.buffers()[2][offsets[points.offset] : offsets[points.offset + n]]


def _point_texts(points: SampleColumns) -> list[pa.Buffer | bytes]:
    """The points' text, slice by slice, a comma between each two points."""
    texts = [
        _joined(_fields(part), len(part))
        for part in (
            points.slice(start, start + POINTS_PER_SLICE)
            for start in range(0, len(points), POINTS_PER_SLICE)
        )
    ]
    if texts:
        texts[-1] = texts[-1][:-1]  # no comma after the last point
    return texts


def raw_points_json(points: SampleColumns) -> bytes:
    """The points of raw history, as the JSON array's elements (no brackets)."""
    return b"".join(_point_texts(points))


def history_json(head: dict[str, Any], points: SampleColumns) -> bytes:
    """A HistoryOut body: `head` (every field but points) followed by the points."""
    text = orjson.dumps({**head, "points": []})
    assert text.endswith(b"[]}")
    # The points go between the brackets of the empty list the text ends with. Joined once:
    # each + would copy the megabytes of points again.
    return b"".join((text[:-2], *_point_texts(points), b"]}"))
