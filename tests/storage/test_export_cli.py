"""`loggerd export` writes a time range to a file, with a progress bar, from either engine."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from loggerd.cli.main import main
from loggerd.storage.export import export_chunks
from loggerd.storage.store import Store

from .conftest import PG_URL, StoreFactory, sample
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
    assert "2.00k/2.00k" in captured.err  # tqdm's bar, on stderr
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
