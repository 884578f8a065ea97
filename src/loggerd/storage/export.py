"""Raw exports of a time range, CSV or Parquet, streamed: memory stays flat however long the
range, because samples come from the database in batches of columns, become Arrow record
batches, and leave as encoded chunks (Arrow's CSV and Parquet writers).

Both formats carry what raw history in JSON carries of each sample (its provenance too: time
source, record number, the logger's own time, calibration version, uncertainty, method)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

import pyarrow as pa

from loggerd.core.times import iso_unique
from loggerd.storage.reader import SampleColumns
from loggerd.storage.store import Store

Format = Literal["csv", "parquet"]
MEDIA_TYPES: dict[str, str] = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
# A file's extension says its format, when nothing else does.
SUFFIXES: dict[str, Format] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
COLUMNS = [
    "timestamp",
    "channel",
    "value",
    "raw_value",
    "unit",
    "quality",
    "time_source",
    "sequence",
    "logger_time",
    "calibration_version",
    "calibration_past_due",
    "uncertainty",
    "method",
]
CSV_ROWS_PER_CHUNK = 2000
PARQUET_ROWS_PER_GROUP = 100_000

_UTC_US = pa.timestamp("us", tz="UTC")
# Parquet keeps times as times; CSV writes them as ISO 8601 text, as JSON history does.
PARQUET_SCHEMA = pa.schema(
    [
        pa.field("timestamp", _UTC_US, nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("value", pa.float64()),
        pa.field("raw_value", pa.float64()),
        pa.field("unit", pa.string(), nullable=False),
        pa.field("quality", pa.string(), nullable=False),
        pa.field("time_source", pa.string(), nullable=False),
        pa.field("sequence", pa.int64()),
        pa.field("logger_time", _UTC_US),
        pa.field("calibration_version", pa.int32()),
        pa.field("calibration_past_due", pa.bool_()),
        pa.field("uncertainty", pa.float64()),
        pa.field("method", pa.string()),
    ]
)
CSV_SCHEMA = PARQUET_SCHEMA.set(0, pa.field("timestamp", pa.string(), nullable=False)).set(
    8, pa.field("logger_time", pa.string())
)


def _iso(ts_us: Any, known: Any = None) -> pa.Array:
    """ISO 8601 texts of times (null where not `known`), each distinct time formatted once."""
    texts, where = iso_unique(ts_us)
    mask = None if known is None else ~known
    return pa.array(texts, pa.string()).take(pa.array(where, mask=mask))


def record_batch(
    points: SampleColumns,
    units: Mapping[str, str],
    past_due: Mapping[str, bool],
    schema: pa.Schema = PARQUET_SCHEMA,
) -> pa.RecordBatch:
    """Samples as one Arrow record batch of `schema` (PARQUET_SCHEMA or CSV_SCHEMA): each
    column converted at once, no object per sample. past_due: per channel, whether its
    certificate's due date has passed (null where no certificate is known)."""
    logger_us, known = points.logger_time_us()
    if schema.field("timestamp").type == _UTC_US:
        timestamp = pa.array(points.ts_us, _UTC_US)
        logger_time = pa.array(logger_us, _UTC_US, mask=~known)
    else:
        timestamp = _iso(points.ts_us)
        logger_time = _iso(logger_us, known)
    # What depends on the channel alone is made once per channel, then taken for each sample.
    names = points.channel_id.dictionary.to_pylist()
    channel = points.channel_id.indices
    columns = [
        timestamp,
        points.channel_id.dictionary_decode(),
        points.value,
        points.raw_value,
        pa.array([units[c] for c in names], pa.string()).take(channel),
        points.quality,
        points.time_source,
        points.sequence,
        logger_time,
        points.calibration_version,
        pa.array([past_due.get(c) for c in names], pa.bool_()).take(channel),
        points.uncertainty,
        points.method,
    ]
    return pa.record_batch(columns, schema=schema)


class _Chunks:
    """A write-only file for pyarrow that hands on what was written, chunk by chunk."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0
        self.closed = False

    def write(self, data: Any) -> int:
        b = bytes(data)
        self.parts.append(b)
        self.position += len(b)
        return len(b)

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False


def csv_chunks(
    batches: Iterable[SampleColumns],
    units: Mapping[str, str],
    progress: Callable[[int], None] | None = None,
    past_due: Mapping[str, bool] | None = None,
) -> Iterator[bytes]:
    """CSV of the samples, written by Arrow's CSV writer, CSV_ROWS_PER_CHUNK rows a chunk.

    Numbers are written in their shortest exact form (-40, 0.1, 1e-05 as 0.00001), text in
    quotes, nothing for a null; every CSV reader reads them as the numbers and texts they are.
    """
    import pyarrow.csv as pcsv

    due = past_due or {}
    sink = _Chunks()
    options = pcsv.WriteOptions(quoting_header="none", batch_size=CSV_ROWS_PER_CHUNK)
    with pcsv.CSVWriter(pa.PythonFile(sink, mode="w"), CSV_SCHEMA, write_options=options) as out:
        yield sink.take()  # the header: an empty range is still a CSV file with its columns
        for points in batches:
            batch = record_batch(points, units, due, CSV_SCHEMA)
            for offset in range(0, batch.num_rows, CSV_ROWS_PER_CHUNK):
                part = batch.slice(offset, CSV_ROWS_PER_CHUNK)
                out.write_batch(part)
                yield sink.take()
                if progress is not None:
                    progress(part.num_rows)


def parquet_chunks(
    batches: Iterable[SampleColumns],
    units: Mapping[str, str],
    progress: Callable[[int], None] | None = None,
    past_due: Mapping[str, bool] | None = None,
) -> Iterator[bytes]:
    """Parquet of the samples (zstd), a row group of about PARQUET_ROWS_PER_GROUP rows a chunk."""
    import pyarrow.parquet as pq

    due = past_due or {}
    sink = _Chunks()
    writer = pq.ParquetWriter(pa.PythonFile(sink, mode="w"), PARQUET_SCHEMA, compression="zstd")
    pending: list[pa.RecordBatch] = []
    rows = 0
    try:
        for points in batches:
            pending.append(record_batch(points, units, due))
            rows += len(points)
            if rows >= PARQUET_ROWS_PER_GROUP:
                writer.write_table(pa.Table.from_batches(pending), PARQUET_ROWS_PER_GROUP)
                yield sink.take()
                if progress is not None:
                    progress(rows)
                pending, rows = [], 0
        if pending:
            writer.write_table(pa.Table.from_batches(pending), PARQUET_ROWS_PER_GROUP)
            if progress is not None:
                progress(rows)
    finally:
        writer.close()
    yield sink.take()


def export_chunks(
    store: Store,
    chamber_id: str,
    channel_ids: Sequence[str],
    start_us: int,
    end_us: int,
    fmt: Format,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    past_due: Mapping[str, bool] | None = None,
) -> Iterator[bytes]:
    """The raw samples of some channels in [start_us, end_us), encoded, by time then channel.

    Read from the store in batches of columns (HistoryReader.sample_batches) and encoded batch
    by batch through Arrow: memory stays flat however long the range.
    `past_due` flags, per channel, a calibration certificate whose due date has passed.
    """
    units = {c: store.channel(chamber_id, c).unit for c in channel_ids}
    batches = store.reader.sample_batches(chamber_id, channel_ids, start_us, end_us, limit)
    encode = csv_chunks if fmt == "csv" else parquet_chunks
    return encode(batches, units, progress, past_due)
