"""A replaced calibration certificate: stored history is corrected again from its raw values,
the raw values stay as they were, and the rollups follow (on both engines)."""

from __future__ import annotations

import math

import numpy as np
from sqlalchemy import select

from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.processing.calibration import correct, parse_certificate
from loggerd.storage.schema import rollup_tables
from loggerd.storage.store import Store

from .conftest import T0_US

NEW_CERT_TEXT = """
id = "NEW-1"
laboratory = "test"
issued = 2026-10-01
due = 2027-10-01
version = 7
quantity = "temperature"
unit = "°C"
points = [
    { indicated = -80.0, reference = -80.5, expanded_uncertainty = 0.04, k = 2.0 },
    { indicated = 0.0, reference = 0.5, expanded_uncertainty = 0.02, k = 2.0 },
]
"""
NEW_CERT = parse_certificate(NEW_CERT_TEXT)


def recorrect(raw: np.ndarray, probe: np.ndarray) -> tuple:  # type: ignore[type-arg]
    c = correct(NEW_CERT, raw)
    return c.corrected, c.expanded_uncertainty, c.out_of_range, NEW_CERT.version


def test_history_is_corrected_again_and_rollups_follow(store: Store) -> None:
    raws = [-70.0, -40.0, -10.0, 5.0]  # the last is outside the new certificate
    batch = [
        Sample(
            "c1",
            "t1",
            T0_US + i * 1_000_000,
            r + 0.1,
            r,
            Quality.GOOD,
            TimeSource.HOST,
            calibration_version=1,
        )
        for i, r in enumerate(raws)
    ]
    missing = Sample(
        "c1", "t1", T0_US + 10_000_000, math.nan, math.nan, Quality.MISSING, TimeSource.HOST
    )
    store.write([*batch, missing])
    changed = store.recorrect("c1", "t1", recorrect, 0, 2**62)
    assert changed == 4  # the missing sample has no raw value to correct
    rows = list(store.history("c1", ["t1"], 0, 2**62))
    assert [r.raw_value for r in rows[:4]] == raws  # raw values untouched
    expected = [float(correct(NEW_CERT, r).corrected) for r in raws[:3]]
    assert [r.value for r in rows[:3]] == expected
    assert {r.calibration_version for r in rows[:4]} == {7}
    assert rows[3].quality is Quality.CAL_OUT_OF_RANGE and rows[3].value is None
    assert rows[4].quality is Quality.MISSING and rows[4].calibration_version is None
    minute = rollup_tables["1m"]
    with store.engine.connect() as conn:
        (bucket,) = conn.execute(
            select(minute).where(minute.c.channel_key == store.channel("c1", "t1").key)
        ).all()
    assert bucket.sample_count == 3
    assert bucket.value_min == min(expected) and bucket.value_max == max(expected)
    assert bucket.value_sum == sum(expected)


def test_calibration_apply_command(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from loggerd.cli.main import main
    from loggerd.core.channels import Channel
    from loggerd.service.config import load_config
    from loggerd.service.daemon import open_store

    cert = tmp_path / "new.toml"
    cert.write_text(NEW_CERT_TEXT)
    config = tmp_path / "lab.toml"
    config.write_text("""
data_dir = "data"
[[chamber]]
id = "c1"
[[chamber.device]]
id = "d"
driver = "reference-modbus"
url = "/dev/ttyUSB0"
[[chamber.device.channel]]
id = "t1"
point = "temperature_1"
""")
    (tmp_path / "data").mkdir()
    store = open_store(load_config(config))
    store.upgrade()
    store.open({"c1": None}, [Channel("c1", "t1", "d", "temperature_1", "temperature", "degC")])
    store.write([Sample("c1", "t1", T0_US, -40.0, -40.0, Quality.GOOD, TimeSource.HOST)])
    store.close()
    assert (
        main(
            [
                "calibration",
                "apply",
                "--config",
                str(config),
                "--chamber",
                "c1",
                "--channel",
                "t1",
                "--certificate",
                str(cert),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "c1/t1: 1 samples corrected again with certificate NEW-1 version 7" in out
    assert "still names no certificate" in out
    store = open_store(load_config(config))
    (row,) = store.history("c1", ["t1"], 0, 2**62)
    store.close()
    assert row.value == float(correct(NEW_CERT, -40.0).corrected) and row.raw_value == -40.0
