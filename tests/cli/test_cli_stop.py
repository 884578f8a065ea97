"""`loggerd run` stopped by a second signal exits at once, and the next start loses nothing the
first run accepted: what was not yet in the store was in the spool."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loggerd.service.runtime import EXIT_AT_ONCE
from loggerd.storage.payloads import decode as _decode
from loggerd.storage.spool import SPOOL_FILE, Spool
from tests.cli.test_cli import Proc, loggerd, wait_until
from tests.processes import children, ended
from tests.service.daemons import device_toml

Key = tuple[str, str, int]  # chamber, channel, UTC µs


def health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/api/v1/health", timeout=10) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def stored(db: sqlite3.Connection) -> set[Key]:
    rows = db.execute(
        "SELECT c.chamber_id, c.channel_id, s.ts_us FROM samples s "
        "JOIN channels c ON c.key = s.channel_key"
    )
    return {(chamber, channel, ts) for chamber, channel, ts in rows}


def spooled(path: Path) -> set[Key]:
    """The samples waiting in a spool, read as the writer will read them."""
    with Spool(path) as spool:
        return {
            (s.chamber_id, s.channel_id, s.timestamp_us)
            for e in spool.head(10**12)
            if e.kind == "samples"
            for s in _decode(e.kind, e.payload)
        }


def wait_for_text(proc: Proc, text: str) -> str:
    """Read the process's output until a line contains `text` (log lines start with a time)."""
    assert proc.p.stdout is not None
    for line in proc.p.stdout:
        proc.lines.append(line)
        if text in line:
            return line
    raise AssertionError(f"process ended without printing {text!r}:\n{''.join(proc.lines)}")


@contextlib.contextmanager
def running(args: list[str]) -> Iterator[tuple[Proc, str]]:
    proc = Proc(args)
    try:
        line = proc.wait_for_line("loggerd is running: ")
        yield proc, line.split()[3].removesuffix("/api/v1/chambers")
    finally:
        if proc.p.poll() is None:
            proc.p.kill()
            proc.p.communicate()


@pytest.fixture
def sim_url() -> Iterator[str]:
    """The simulator in a process of its own: a logger at address 1 on Modbus TCP."""
    proc = Proc(loggerd("sim", "--addresses", "1", "--no-rtu"))
    try:
        yield proc.wait_for_line("modbus-tcp: ").split()[1]
        proc.p.send_signal(signal.SIGINT)
        proc.p.communicate(timeout=30)
    finally:
        if proc.p.poll() is None:
            proc.p.kill()
            proc.p.communicate()


def test_a_second_sigterm_exits_at_once_and_the_next_start_loses_nothing(
    tmp_path: Path, sim_url: str
) -> None:
    data = tmp_path / "data"
    config = tmp_path / "loggerd.toml"
    config.write_text(
        f'data_dir = "{data.as_posix()}"\n[store]\nflush_interval_s = 0.05\n\n'
        + device_toml("c", "logger-1", sim_url, 1)
    )
    run = loggerd("run", "--config", str(config), "--port", "0")

    with running(run) as (proc, url):
        assert wait_until(lambda: health(url)["writer"]["written"] > 0), "nothing stored"
        # Another process takes the store's write lock: the writer can no longer write, so a
        # clean stop would wait (for SQLite's busy timeout, then for the store to come back).
        blocker = sqlite3.connect(data / "loggerd.db", isolation_level=None, timeout=30)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            assert wait_until(lambda: health(url)["writer"]["spooled"] >= 20), "nothing spooled"
            (api,) = children(proc.p.pid, "api_worker")  # the API's process
            proc.p.send_signal(signal.SIGTERM)
            wait_for_text(proc, "SIGTERM: stopping")  # the clean stop is under way
            second_s = time.monotonic()
            proc.p.send_signal(signal.SIGTERM)
            out, _ = proc.p.communicate(timeout=30)
            exited_s = time.monotonic() - second_s
            assert proc.p.returncode == EXIT_AT_ONCE, "".join(proc.lines) + out
            assert exited_s < 5, f"took {exited_s:.1f} s to exit after the second signal"
            assert "SIGTERM again: exiting at once" in out
            assert wait_until(lambda: ended(api)), "the API's process outlived acquisition's"
            in_store = stored(blocker)  # what the first run had written, under our lock
        finally:
            if blocker.in_transaction:
                blocker.execute("ROLLBACK")
            blocker.close()
    waiting = spooled(data / SPOOL_FILE)
    assert in_store and waiting
    first_run = in_store | waiting
    restart_us = time.time_ns() // 1000
    assert max(ts for _, _, ts in first_run) < restart_us

    with running(run) as (proc, url):
        # The spool drains first, then what this run acquires.
        assert wait_until(lambda: health(url)["writer"]["written"] > len(waiting)), "no drain"
        code, out = proc.stop(signal.SIGTERM)
    assert code == 0, out
    with contextlib.closing(sqlite3.connect(data / "loggerd.db")) as db:
        after = stored(db)
        (rows_before_restart,) = db.execute(
            "SELECT count(*) FROM samples WHERE ts_us < ?", (restart_us,)
        ).fetchone()
    # Every sample the first run accepted, once; nothing else from before the restart.
    assert {k for k in after if k[2] < restart_us} == first_run
    assert rows_before_restart == len(first_run)
    assert len(after) > len(first_run)  # and the second run acquired too
    assert spooled(data / SPOOL_FILE) == set()
