"""Registering chambers, devices and channels: new rows added, changed ones updated, on both
engines (registration runs as one statement of each kind for all rows)."""

from __future__ import annotations

from sqlalchemy import select

from loggerd.core.channels import Channel
from loggerd.storage.model import DeviceRow
from loggerd.storage.schema import devices
from tests.storage.conftest import CHANNELS, StoreFactory


def _drivers(store: object) -> dict[tuple[str, str], str | None]:
    db = store._db  # type: ignore[attr-defined]
    with db.engine.connect() as conn:
        rows = conn.execute(select(devices.c.chamber_id, devices.c.device_id, devices.c.driver))
        return {(c, d): driver for c, d, driver in rows}


def test_registering_again_adds_new_rows_and_updates_changed_ones(stores: StoreFactory) -> None:
    store = stores()
    renamed = Channel("c1", "t1", "logger-1", "temperature_1", "temperature", "K", "Air inlet")
    added = [
        Channel("c2", f"rh{i}", f"probe-{i}", "rh", "relative_humidity", "%RH") for i in (1, 2)
    ]
    store.open(
        {"c1": "Chamber 1 (walk-in)", "c2": None},
        [renamed, *CHANNELS[1:], *added],
        [DeviceRow("c1", "logger-1", "reference-modbus"), DeviceRow("c2", "probe-2", "rl1600")],
    )

    assert store.chamber_names() == {"c1": "Chamber 1 (walk-in)", "c2": None}
    t1 = store.channel("c1", "t1")
    assert (t1.unit, t1.name, t1.device_id) == ("K", "Air inlet", "logger-1")
    assert [m.channel_id for m in store.chamber_channels("c2")] == ["rh1", "rh2"]
    assert store.channel("c2", "rh2").device_id == "probe-2"
    assert _drivers(store) == {
        ("c1", "logger-1"): "reference-modbus",
        ("c2", "probe-1"): None,
        ("c2", "probe-2"): "rl1600",
    }

    # A loggerd that knows no driver for a device leaves the stored one; the keys stay.
    keys = {(m.chamber_id, m.channel_id): m.key for m in store.chamber_channels("c2")}
    again = stores()
    again.open({"c2": "Humidity rig"}, added, [DeviceRow("c2", "probe-2", None)])
    assert again.chamber_names()["c2"] == "Humidity rig"
    assert {(m.chamber_id, m.channel_id): m.key for m in again.chamber_channels("c2")} == keys
    assert _drivers(again)[("c2", "probe-2")] == "rl1600"
