"""The API process's view of acquisition's health: a request never gets a snapshot older than
half a second if acquisition answers; it waits for a fresh one (and says the last one if
acquisition does not answer in time)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from loggerd.core.health import DeviceHealth
from loggerd.service.ports import DeviceReport, ServedSnapshot, SnapshotHealth
from loggerd.storage.store import Store, sqlite_url

WAIT_S = 20.0  # bounded: a failing test still ends


def _snapshot(state: str) -> ServedSnapshot:
    report = DeviceReport("c", "d", "simulated", DeviceHealth(state=state), None)
    return ServedSnapshot([report], None, {}, {})


def _health(tmp_path: Path, now: list[float]) -> SnapshotHealth:
    return SnapshotHealth(Store(sqlite_url(tmp_path / "s.db")), monotonic=lambda: now[0])


def test_a_fresh_snapshot_is_served_without_asking(tmp_path: Path) -> None:
    now = [100.0]
    health = _health(tmp_path, now)
    health.update(_snapshot("ok"))
    now[0] += 0.4
    assert health.devices()[0].health.state == "ok"
    assert health.read and not health.wanted


def test_an_old_snapshot_is_asked_for_again_and_the_new_one_served(tmp_path: Path) -> None:
    now = [100.0]
    health = _health(tmp_path, now)
    health.update(_snapshot("ok"))
    now[0] += 5.0  # nobody looked for five seconds
    with ThreadPoolExecutor(1) as pool:
        request = pool.submit(health.devices)
        deadline = time.monotonic() + WAIT_S
        while not health.wanted:  # as the API's link thread sees it: it polls `wanted`
            assert time.monotonic() < deadline, "the request never asked for a snapshot"
            time.sleep(0.001)  # sync-ok: polling a flag under a deadline, as the link does
        assert not request.done()  # the request waits for acquisition's answer
        health.update(_snapshot("offline"))
        assert request.result(WAIT_S)[0].health.state == "offline"
    assert not health.wanted


def test_without_an_answer_the_last_snapshot_is_served_after_the_wait(tmp_path: Path) -> None:
    now = [100.0]
    health = _health(tmp_path, now)
    health.WAIT_S = 0.05
    health.update(_snapshot("ok"))
    now[0] += 5.0
    assert health.devices()[0].health.state == "ok"
    assert health.wanted  # still asked for
