"""Raw exports of a time range, CSV or Parquet, streamed: memory stays flat however long the
range, because rows come from the database in batches and leave as encoded chunks.

Both formats carry what raw history in JSON carries of each sample (its provenance too: time
source, record number, the logger's own time, calibration version, uncertainty, method)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from loggerd.core.times import iso
from loggerd.storage.store import Store, StoredSample

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


def _batches(rows: Iterable[StoredSample], size: int) -> Iterator[list[StoredSample]]:
    batch: list[StoredSample] = []
    for r in rows:
        batch.append(r)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _flag(past_due: Mapping[str, bool], channel_id: str) -> bool | None:
    """Whether the channel's certificate is past due; None where no certificate is known."""
    return past_due.get(channel_id)


def csv_chunks(
    rows: Iterable[StoredSample],
    units: dict[str, str],
    progress: Callable[[int], None] | None = None,
    past_due: Mapping[str, bool] | None = None,
) -> Iterator[bytes]:
    due = past_due or {}
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(COLUMNS)
    yield buf.getvalue().encode()
    for batch in _batches(rows, CSV_ROWS_PER_CHUNK):
        buf.seek(0)
        buf.truncate()
        out.writerows(
            [
                iso(s.timestamp_us),
                s.channel_id,
                "" if s.value is None else repr(s.value),
                "" if s.raw_value is None else repr(s.raw_value),
                units[s.channel_id],
                s.quality.value,
                s.time_source.value,
                "" if s.sequence is None else s.sequence,
                "" if s.logger_time_us is None else iso(s.logger_time_us),
                "" if s.calibration_version is None else s.calibration_version,
                {True: "true", False: "false", None: ""}[_flag(due, s.channel_id)],
                "" if s.uncertainty is None else repr(s.uncertainty),
                s.method or "",
            ]
            for s in batch
        )
        yield buf.getvalue().encode()
        if progress is not None:
            progress(len(batch))


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


def parquet_chunks(
    rows: Iterable[StoredSample],
    units: dict[str, str],
    progress: Callable[[int], None] | None = None,
    past_due: Mapping[str, bool] | None = None,
) -> Iterator[bytes]:
    due = past_due or {}
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            pa.field("timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("channel", pa.string(), nullable=False),
            pa.field("value", pa.float64()),
            pa.field("raw_value", pa.float64()),
            pa.field("unit", pa.string(), nullable=False),
            pa.field("quality", pa.string(), nullable=False),
            pa.field("time_source", pa.string(), nullable=False),
            pa.field("sequence", pa.int64()),
            pa.field("logger_time", pa.timestamp("us", tz="UTC")),
            pa.field("calibration_version", pa.int32()),
            pa.field("calibration_past_due", pa.bool_()),
            pa.field("uncertainty", pa.float64()),
            pa.field("method", pa.string()),
        ]
    )
    sink = _Chunks()
    writer = pq.ParquetWriter(pa.PythonFile(sink, mode="w"), schema, compression="zstd")
    try:
        for batch in _batches(rows, PARQUET_ROWS_PER_GROUP):
            table = pa.Table.from_pydict(
                {
                    "timestamp": [s.timestamp_us for s in batch],
                    "channel": [s.channel_id for s in batch],
                    "value": [s.value for s in batch],
                    "raw_value": [s.raw_value for s in batch],
                    "unit": [units[s.channel_id] for s in batch],
                    "quality": [s.quality.value for s in batch],
                    "time_source": [s.time_source.value for s in batch],
                    "sequence": [s.sequence for s in batch],
                    "logger_time": [s.logger_time_us for s in batch],
                    "calibration_version": [s.calibration_version for s in batch],
                    "calibration_past_due": [_flag(due, s.channel_id) for s in batch],
                    "uncertainty": [s.uncertainty for s in batch],
                    "method": [s.method for s in batch],
                },
                schema=schema,
            )
            writer.write_table(table)
            yield sink.take()
            if progress is not None:
                progress(len(batch))
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

    `past_due` flags, per channel, a calibration certificate whose due date has passed.
    """
    units = {c: store.channel(chamber_id, c).unit for c in channel_ids}
    rows = store.history(chamber_id, channel_ids, start_us, end_us, limit)
    encode = csv_chunks if fmt == "csv" else parquet_chunks
    return encode(rows, units, progress, past_due)
