"""The daemon serves calibrated and derived channels: corrected values beside untouched raw
ones, the certificate and its due date, derived humidity with its formulation and uncertainty,
and the logger's own frost point cross-checked."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import httpx
import pytest

from loggerd.api.app import create_app
from loggerd.processing import humidity
from loggerd.processing.calibration import correct, load_certificate
from loggerd.service.config import load_config
from loggerd.service.daemon import Daemon
from loggerd_sim.host import SimulatorHost
from loggerd_sim.logger import ManualClock

CERTS = Path(__file__).resolve().parents[2] / "deploy" / "certificates"
# A dew-point-generator calibration down to 0.1 %RH (the example probe's starts at 5 %RH).
RH_CERTIFICATE = """
id = "TEST-H-1"
laboratory = "test"
issued = 2026-01-10
due = 2099-01-10
version = 3
quantity = "relative_humidity"
unit = "%RH"
points = [
    { indicated = 0.1, reference = 0.12, expanded_uncertainty = 0.05, k = 2.0 },
    { indicated = 5.0, reference = 5.2, expanded_uncertainty = 0.3, k = 2.0 },
    { indicated = 100.0, reference = 99.0, expanded_uncertainty = 1.5, k = 2.0 },
]
"""


async def test_calibrated_and_derived_channels(
    tmp_path: Path, sim: SimulatorHost, manual_clock: ManualClock
) -> None:
    assert sim.tcp is not None
    manual_clock.advance(30 * 60)  # about -33 °C and 0.3 %RH: the soak is dry
    rh_cert = tmp_path / "rh-cert.toml"
    rh_cert.write_text(RH_CERTIFICATE)
    config = tmp_path / "lab.toml"
    config.write_text(f"""
data_dir = "data"
[store]
flush_interval_s = 0.05

[[chamber]]
id = "c1"

[[chamber.device]]
id = "logger"
driver = "reference-modbus"
url = "{sim.tcp.url}"
poll_interval_s = 0.05

[[chamber.device.channel]]
id = "air"
point = "temperature_1"
certificate = "{(CERTS / "example-pt100.toml").as_posix()}"

[[chamber.device.channel]]
id = "rh"
point = "rh"
certificate = "rh-cert.toml"

[[chamber.device.channel]]
id = "logger_fp"
point = "frost_point"

[[chamber.derived]]
id = "fp"
quantity = "frost_dew_point"
temperature = "air"
rh = "rh"
check = "logger_fp"
check_limit = 0.05

[[chamber.derived]]
id = "h2o"
quantity = "ppmv"
temperature = "air"
rh = "rh"
pressure_hpa = 1000.0
formulation = "sonntag1990"
""")
    daemon = Daemon(load_config(config))
    await daemon.start()
    try:
        async with asyncio.timeout(20):
            # Records from the logger's memory: after its clock check, beside the live reads.
            await daemon.wait_accepted(3 * 5, history=True)
            await daemon.writer.flushed()
        app = create_app(daemon.ports())
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            latest = (await http.get("/api/v1/chambers/c1/latest")).json()["readings"]
            by = {r["channel"]: r for r in latest}
            chambers = (await http.get("/api/v1/chambers")).json()["chambers"]
            resp = await http.get(
                "/api/v1/chambers/c1/history", params={"channel": ["fp", "air"], "format": "csv"}
            )
            json_history = (
                await http.get("/api/v1/chambers/c1/history", params={"channel": "h2o"})
            ).json()
    finally:
        await daemon.stop()

    air, rh, fp, h2o, logger_fp = (by[c] for c in ("air", "rh", "fp", "h2o", "logger_fp"))
    pt100 = load_certificate(CERTS / "example-pt100.toml")
    # The value is corrected, the raw value is what the logger sent.
    assert air["value"] == pytest.approx(float(correct(pt100, air["raw_value"]).corrected))
    assert air["value"] != air["raw_value"] and air["calibration_version"] == 1
    assert air["calibration"]["certificate_id"] == pt100.id
    assert air["calibration"]["past_due"] is True  # due 2026-03-12
    assert rh["calibration"]["past_due"] is False and rh["calibration_version"] == 3
    assert rh["value"] != rh["raw_value"]
    assert air["uncertainty"] == pytest.approx(
        float(correct(pt100, air["raw_value"]).expanded_uncertainty)
    )
    # Derived from the corrected values, with the formulation named and its uncertainty.
    assert fp["value"] == pytest.approx(
        humidity.frost_dew_point_c(air["value"], rh["value"]), abs=1e-6
    )
    assert fp["method"] == "hardy1998" and fp["unit"] == "degC" and fp["uncertainty"] > 0
    assert h2o["method"] == "sonntag1990" and h2o["unit"] == "ppmv"
    assert h2o["value"] == pytest.approx(
        humidity.ppmv(air["value"], rh["value"], 1000.0, formulation="sonntag1990"), rel=1e-9
    )
    # The logger computes its frost point from uncorrected values: beyond 0.05 K it is flagged.
    assert logger_fp["quality"] == "inconsistent" and logger_fp["value"] is not None
    assert {c["id"]: c["unit"] for c in chambers[0]["channels"]}["h2o"] == "ppmv"
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert {r["channel"] for r in rows} == {"fp", "air"}
    assert {r["calibration_past_due"] for r in rows if r["channel"] == "air"} == {"true"}
    assert {r["method"] for r in rows if r["channel"] == "fp"} == {"hardy1998"}
    points = json_history["points"]
    assert points and {p["method"] for p in points} == {"sonntag1990"}


def test_a_bad_certificate_stops_the_start_with_a_clear_error(tmp_path: Path) -> None:
    from loggerd.core.errors import ConfigError

    bad = tmp_path / "cert.toml"
    bad.write_text((CERTS / "example-pt100.toml").read_text().replace("k = 2.0", "k = 0", 1))
    config = tmp_path / "lab.toml"
    config.write_text("""
[[chamber]]
id = "c1"
[[chamber.device]]
id = "d"
driver = "reference-modbus"
url = "/dev/ttyUSB0"
[[chamber.device.channel]]
id = "air"
point = "temperature_1"
certificate = "cert.toml"
""")
    k_line = bad.read_text().splitlines().index("k = 0") + 1
    with pytest.raises(ConfigError) as info:
        load_config(config)
    # The channel that names it, at its line; and inside the certificate, its own line.
    assert str(info.value) == (
        f"{config}:11: chamber[0] (id 'c1').device[0] (id 'd').channel[0] (id 'air')"
        f".certificate: {bad}:{k_line}: points[0] (indicated -79.88).k: k must be > 0, got 0"
    )
