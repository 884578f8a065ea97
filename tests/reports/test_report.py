"""The report of a simulated cold soak (the simulator's chamber physics: ramp to -70 °C, soak,
return), in every format, from the store, the CLI and the API."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loggerd.api.app import create_app
from loggerd.api.ports import Ports
from loggerd.core.alarms import AlarmKey, AlarmKind, AlarmSeverity, Transition
from loggerd.reports import report
from loggerd.reports.data import MAX_GRID_CELLS, gather
from loggerd.service.ports import StoreReports
from loggerd.storage.store import Store, sqlite_url
from tests.api.fakes import FakeCertificates, FakeEvents, FakeHealth, FakeHistory, FakeLive
from tests.cli.test_cli import loggerd

from .simulated import CHANNELS, POLL_S, RUN_PROFILE, START_US, samples, simulated_cold_soak

DROPPED = range(2000, 2060)  # 5 minutes of polls recorded as missing, in the cold soak


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    url = sqlite_url(tmp_path_factory.mktemp("run"))
    store = Store(url)
    store.upgrade()
    run_id = simulated_cold_soak(store, DROPPED)
    store.close()
    yield url, run_id


@pytest.fixture
def store(stored: tuple[str, int]) -> Iterator[Store]:
    s = Store(stored[0])
    yield s
    s.close()


def document(store: Store, run_id: int, **kwargs: Any) -> dict[str, Any]:
    return json.loads(report(store, run_id, "json", **kwargs))


def test_the_cold_soak_passes_with_the_figures_the_simulator_makes(
    store: Store, stored: tuple[str, int]
) -> None:
    d = document(store, stored[1])
    assert d["verdict"] == "pass"
    assert [s["kind"] for s in d["segments"]] == ["soak", "ramp", "soak", "ramp"]
    (down,) = d["segments"][1]["results"]
    assert down["required_rate_per_min"] == -1.0
    assert down["span_rate_per_min"] == pytest.approx(-1.0, abs=0.05)  # the ramp's own rate
    (cold,) = d["segments"][2]["results"]
    s = cold["statistics"]
    # The simulator spreads its points over ±1.0 K at -70 °C and adds 0.03 K of noise.
    assert -1.2 < s["deviation_min"] < -0.3 and 0.3 < s["deviation_max"] < 1.2
    assert s["fluctuation"] < 0.2 and s["gradient"] < 2.0
    assert cold["window"]["readings"] == 30 and cold["window"]["interval_s"] == 60
    # DO-160's rule over the trailing hour: not before an hour into the soak.
    soak_start_s = RUN_PROFILE.starts_s()[2]
    assert cold["stabilisation"]["reached_after_s"] >= soak_start_s + 3600
    # The 5 dropped minutes fall in the evaluation window: counted as missing, not hidden.
    assert s["samples_used"] + s["samples_missing"] == 30 * 8 and s["samples_missing"] > 0
    assert set(cold["decisions"]) == {"deviation_max", "deviation_min", "fluctuation"}


def test_completeness_counts_every_poll(store: Store, stored: tuple[str, int]) -> None:
    d = document(store, stored[1])
    polls = int(RUN_PROFILE.duration_s) // POLL_S
    for c in d["completeness"]:
        assert c["expected"] == polls and c["stored"] == polls
        assert c["by_quality"] == {"good": polls - len(DROPPED), "missing": len(DROPPED)}
        (gap,) = c["gaps"]  # the dropped polls, and no other pause
        assert gap["s"] == (len(DROPPED) + 1) * POLL_S
    assert [c["channel_id"] for c in d["completeness"]] == [c.channel_id for c in CHANNELS]


def test_the_fingerprint_is_rebuilt_from_the_stored_history(
    store: Store, stored: tuple[str, int]
) -> None:
    """From the history as the API serves it, by the rule the report states."""
    d = document(store, stored[1])
    end_us = START_US + int(RUN_PROFILE.duration_s) * 1_000_000
    digest = hashlib.sha256()
    for channel in sorted(c.channel_id for c in CHANNELS):
        for sample in store.history("c1", [channel], START_US, end_us):
            if sample.quality == "good":
                digest.update(f"{channel},{sample.timestamp_us},{sample.value!r}\n".encode())
    assert d["report"]["data_sha256"] == digest.hexdigest()


def test_each_family_reports_its_own_figures(store: Store, stored: tuple[str, int]) -> None:
    (iec,) = document(store, stored[1], family="iec_60068_3")["segments"][2]["results"]
    assert iec["statistics"]["deviation"] is not None and "deviation" in iec["decisions"]
    (jjf,) = document(store, stored[1], family="jjf_1101")["segments"][2]["results"]
    assert jjf["statistics"]["uniformity"] > 0 and jjf["window"]["interval_s"] == 120


def test_html_and_pdf(store: Store, stored: tuple[str, int]) -> None:
    html = report(store, stored[1], "html").decode()
    assert html.count("data:image/png;base64,") == 3  # temperature, RH, frost point
    assert "Verdict: pass" in html and "PSU-7 s/n 0031" in html
    assert "GB/T 5170.2-2017" in html and "SHA-256" in html
    pdf = report(store, stored[1], "pdf")
    assert pdf.startswith(b"%PDF-") and b"/Title (Run 1 DO-160G 4.5.1 cold operating)" in pdf


def test_what_a_person_typed_is_escaped_in_html(tmp_path: Path) -> None:
    store = Store(sqlite_url(tmp_path))
    store.upgrade()
    try:
        store.open({"c1": None}, CHANNELS)
        run = store.runs.create("c1", "<script>x()</script>", "u", "o", RUN_PROFILE, START_US, 0)
        html = report(store, run.id, "html").decode()
        assert "<script>x()" not in html and "&lt;script&gt;x()" in html
        assert "never stable" in html  # no data at all: nothing made up
    finally:
        store.close()


async def test_the_cli_and_the_api_give_the_same_report(
    stored: tuple[str, int], store: Store, tmp_path: Path
) -> None:
    url, run_id = stored
    out = tmp_path / "run.json"
    result = subprocess.run(
        loggerd("report", "--url", url, "--run", str(run_id), str(out)),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    from_cli = json.loads(out.read_text())
    ports = Ports(
        FakeLive(), FakeHealth(), store, FakeHistory(), FakeEvents(), FakeCertificates(),
        store.runs, StoreReports(store, FakeCertificates()), store.alarms,
    )  # fmt: skip
    transport = httpx.ASGITransport(app=create_app(ports))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
        r = await api.get(f"/api/v1/runs/{run_id}/report", params={"format": "json"})
        missing = await api.get("/api/v1/runs/99/report")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    from_api = r.json()
    # The API's ports know a certificate for every channel (the fakes'); the CLI, given no
    # configuration, none: the report says so either way.
    assert {c["certificate_id"] for c in from_api["calibration"]} == {"CERT-1"}
    assert {c["past_due"] for c in from_cli["calibration"]} == {None}
    for d in (from_cli, from_api):
        del d["report"]["generated"], d["calibration"]
    assert from_api == from_cli
    assert missing.status_code == 404 and "no run 99" in missing.json()["detail"]


def test_the_alarms_of_the_run_are_in_its_report(tmp_path: Path) -> None:
    store = Store(sqlite_url(tmp_path))
    store.upgrade()
    try:
        store.open({"c1": None}, CHANNELS)
        run = store.runs.create("c1", "T", "u", "o", RUN_PROFILE, START_US, 0)
        crit = AlarmSeverity.CRITICAL
        before = Transition(AlarmKey(AlarmKind.HIGH, "c1", "t2"), True, START_US - 1, crit, "old")
        during = Transition(
            AlarmKey(AlarmKind.LOW, "c1", "t1"), True, START_US + 600 * 1_000_000, crit,
            "t1 = -75.2 below its low limit -75", -75.2, -75.0,
        )  # fmt: skip
        (_, alarm_id) = store.alarms.apply([before, during])
        store.alarms.acknowledge(alarm_id, "j.li", "probe re-seated", START_US + 700 * 1_000_000)
        d = document(store, run.id)
        assert [(a["kind"], a["subject"], a["acknowledged_by"]) for a in d["alarms"]] == [
            ("low", "t1", "j.li")
        ]  # the one raised before the run is not its
        html = report(store, run.id, "html").decode()
        assert "t1 = -75.2 below its low limit -75" in html and "probe re-seated" in html
    finally:
        store.close()


def test_a_run_opened_years_ago_is_reported_on_a_coarser_grid(tmp_path: Path) -> None:
    """A run left open since 2000 (schemathesis found it): the grid of its quantities stays
    within MAX_GRID_CELLS instead of a cell a second for 26 years."""
    store = Store(sqlite_url(tmp_path))
    store.upgrade()
    try:
        store.open({"c1": None}, CHANNELS)
        start = 946_684_800 * 1_000_000  # 2000-01-01
        run = store.runs.create("c1", "T", "u", "o", RUN_PROFILE, start, start)
        store.write(samples(600))  # ten minutes of 2026's data at its end
        data = gather(store, run.id)
        series = data.quantities()["temperature_c"]
        assert len(series.times_s) <= MAX_GRID_CELLS
        assert document(store, run.id)["segments"][0]["verdict"] == "fail"  # no data then
    finally:
        store.close()
