"""`loggerd export` writes a time range to a file, with a progress bar, from either engine."""

from __future__ import annotations

import csv
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from loggerd.cli.main import main
from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.storage.export import export_chunks
from loggerd.storage.store import Store, sqlite_url
from tests.cli.test_cli import loggerd

from .conftest import CHANNELS, PG_URL, T0_US, StoreFactory, sample
from .test_history import iso_s


def store_args(store: Store) -> list[str]:
    url = store.engine.url.render_as_string(hide_password=False)
    return ["--url", url] + (["--schema", store.schema] if store.schema else [])


def test_export_csv_and_parquet_files(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store.write([sample(t, t / 4, channel=c) for t in range(5000) for c in ("t1", "t2")])
    window = ["--start", iso_s(1000), "--end", iso_s(3000)]
    out = tmp_path / "run.csv"
    args = ["export", *store_args(store), "--chamber", "c1", "--channel", "t2", *window]
    assert main([*args, "--format", "csv", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"{out}: 2000 samples of t2 (csv)" in captured.out
    assert captured.err == ""  # the progress bar is for a terminal (see test_backfill_cli.py)
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2000 and rows[0]["timestamp"] == iso_s(1000)
    assert {r["channel"] for r in rows} == {"t2"} and rows[-1]["value"] == repr(2999 / 4)

    out = tmp_path / "run.parquet"
    args = ["export", *store_args(store), "--chamber", "c1", *window, "--format", "parquet"]
    assert main([*args, str(out)]) == 0
    table = pq.read_table(out)
    assert table.num_rows == 2 * 2000  # all channels when none named (t3 has no samples)


def test_export_errors_name_what_is_wrong(
    stores: StoreFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = stores()
    base = ["export", *store_args(store), "--start", iso_s(0), "--end", iso_s(10)]
    assert main([*base, "--chamber", "nope", str(tmp_path / "x.csv")]) == 2
    assert "no chamber 'nope'" in capsys.readouterr().err
    assert main([*base, "--chamber", "c1", "--channel", "zz", str(tmp_path / "x.csv")]) == 2
    assert "no channel 'zz'" in capsys.readouterr().err
    assert (
        main(
            [
                "export",
                "--url",
                PG_URL,
                "--chamber",
                "c1",
                "--start",
                "later",
                "--end",
                iso_s(1),
                str(tmp_path / "x.csv"),
            ]
        )
        == 2
    )
    assert "not an ISO 8601 time" in capsys.readouterr().err


def test_exports_stream_in_chunks(store: Store) -> None:
    store.write([sample(t, 1.0) for t in range(9000)])
    chunks = export_chunks(store, "c1", ["t1"], 0, 2**62, "csv")
    sizes = [len(c) for c in chunks]
    assert len(sizes) >= 5 and max(sizes) < 200_000  # never the whole range at once


# The command as a user runs it: a real `loggerd` process on a SQLite store.

OFFSET_US = 1_500_000  # the logger's clock ran 1.5 s ahead of the host's


@pytest.fixture
def lab_store(tmp_path: Path) -> str:
    """A store with a logger's records (t1, with their clock offset) and host reads (t2)."""
    url = sqlite_url(tmp_path)
    store = Store(url)
    try:
        store.upgrade()
        store.open({"c1": "Chamber 1"}, CHANNELS)
        store.write(
            [
                Sample(
                    "c1",
                    "t1",
                    T0_US + t * 1_000_000,
                    20.0 + t,
                    20.0 + t,
                    Quality.GOOD,
                    TimeSource.LOGGER,
                    sequence=100 + t,
                    clock_offset_us=OFFSET_US,
                )
                for t in range(10)
            ]
            + [sample(t + 0.5, 30.0 + t, channel="t2") for t in range(10)]
        )
    finally:
        store.close()
    return url


def export(url: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    window = ["--start", iso_s(0), "--end", iso_s(3600)]
    return subprocess.run(
        loggerd("export", "--url", url, "--chamber", "c1", *window, *extra, str(out)),
        capture_output=True,
        text=True,
        timeout=60,
    )


def fails(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("loggerd: error: ")
    return line.removeprefix("loggerd: error: ")


def test_the_format_follows_the_file_name(lab_store: str, tmp_path: Path) -> None:
    out = tmp_path / "run.parquet"
    assert export(lab_store, out).returncode == 0
    assert pq.read_table(out).num_rows == 20  # Parquet, not CSV under a .parquet name
    out = tmp_path / "run.CSV"
    assert export(lab_store, out).returncode == 0
    with out.open() as f:
        assert len(list(csv.DictReader(f))) == 20
    out = tmp_path / "run.txt"
    assert fails(export(lab_store, out)) == (
        f"{out}: cannot tell the format from its name: end it in .csv or .parquet or .pq, or "
        "give --format csv or --format parquet"
    )
    assert export(lab_store, out, "--format", "csv").returncode == 0
    assert out.read_text().startswith("timestamp,")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_csv_and_parquet_carry_the_provenance_json_history_carries(
    lab_store: str, tmp_path: Path
) -> None:
    """Every column of a raw point of JSON history (not the aggregates'), the logger's own
    time among them: the record's time before it was corrected by the clock offset."""
    from loggerd.api.schemas import PointOut

    raw_fields = set(PointOut.model_fields) - {"min", "max", "count"}
    assert export(lab_store, tmp_path / "run.csv").returncode == 0
    with (tmp_path / "run.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert raw_fields <= set(rows[0])
    assert export(lab_store, tmp_path / "run.parquet").returncode == 0
    table = pq.read_table(tmp_path / "run.parquet")
    assert raw_fields <= set(table.column_names)

    records = [r for r in rows if r["channel"] == "t1"]
    assert [int(r["sequence"]) for r in records] == list(range(100, 110))
    for r in records:
        timestamp = datetime.fromisoformat(r["timestamp"])
        assert datetime.fromisoformat(r["logger_time"]) - timestamp == timedelta(seconds=1.5)
    assert {r["logger_time"] for r in rows if r["channel"] == "t2"} == {""}  # host reads
    by_row = table.to_pylist()
    for row in by_row:
        if row["channel"] == "t1":
            assert row["logger_time"] - row["timestamp"] == timedelta(seconds=1.5)
            assert row["logger_time"].tzinfo is not None
        else:
            assert row["logger_time"] is None


def test_an_existing_file_is_overwritten_only_with_force(lab_store: str, tmp_path: Path) -> None:
    out = tmp_path / "run.csv"
    out.write_text("a week of work\n")
    assert fails(export(lab_store, out)) == (
        f"{out} exists: give --force to overwrite it, or name another file"
    )
    assert out.read_text() == "a week of work\n"
    assert export(lab_store, out, "--force").returncode == 0
    assert out.read_text().startswith("timestamp,")


def test_a_file_the_machine_refuses_is_one_line(lab_store: str, tmp_path: Path) -> None:
    out = tmp_path / "no-such-folder" / "run.csv"
    assert fails(export(lab_store, out)) == (
        f"cannot write {out}: no such file or directory; the folder {out.parent} does not "
        "exist: make it, or name another"
    )
    (tmp_path / "a-folder.csv").mkdir()
    assert fails(export(lab_store, tmp_path / "a-folder.csv", "--force")) == (
        f"cannot write {tmp_path / 'a-folder.csv'}: is a directory; it is a folder: name a "
        "file in it"
    )
    # A disk that is full: the device that always is.
    assert fails(export(lab_store, Path("/dev/full"), "--force", "--format", "csv")) == (
        "cannot write /dev/full: no space left on device; its disk is full: free some space "
        "on it, or name a folder on another disk"
    )
