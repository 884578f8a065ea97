"""`loggerd backfill` and `loggerd clock set` as a person runs them, in a terminal: a real
`loggerd` process against the simulator over Modbus TCP (its logger on a manual clock, so its
memory holds exactly the records a test gives it: conftest's `sim`)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import re
import struct
import sys
import termios
from pathlib import Path

import pytest

from loggerd.core.events import EventKind
from loggerd.core.samples import TimeSource
from loggerd.storage.store import Store, sqlite_url
from loggerd_protocol import modbus as mb
from loggerd_protocol.definition import reference_logger
from loggerd_sim.faults import Answer, FaultPlan
from loggerd_sim.host import SimulatorHost
from loggerd_sim.logger import ManualClock
from tests.service.daemons import device_toml

ADDRESS = 1
INTERVAL_S = 10
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) ")
BAR = re.compile(r"^logger: +(\d+)%\|.*\| (\d+)/(\d+) \[")


def write_config(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(
        f'data_dir = "{(tmp_path / "data").as_posix()}"\n\n'
        + device_toml("c", "logger", url, ADDRESS, extra, history="memory"),
        "utf-8",
    )
    return path


async def loggerd_in_a_terminal(*args: str) -> tuple[int, str, list[str]]:
    """Run loggerd with its stderr on a terminal (120 columns), as a person sees it: its exit
    status, its stdout, and what the terminal showed, cut at each carriage return and newline
    (a progress bar redraws itself after a carriage return)."""
    master, terminal = pty.openpty()
    try:
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "loggerd",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=terminal,
        )
    finally:
        os.close(terminal)
    try:
        shown = await asyncio.to_thread(_read_all, master)
        stdout, _ = await proc.communicate()
    finally:
        os.close(master)
    segments = [s for s in re.split(r"[\r\n]", shown.decode()) if s.strip()]
    assert proc.returncode is not None
    return proc.returncode, stdout.decode(), segments


def _read_all(fd: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the process closed the terminal's last end
            return out
        if not chunk:
            return out
        out += chunk


async def by_hand(
    tmp_path: Path, sim: SimulatorHost, clock: ManualClock, n: int, *command: str
) -> tuple[int, str, list[str]]:
    """Let the logger take records 1..n (the first at its start), then run `loggerd
    COMMAND --config … --device logger` in a terminal (see loggerd_in_a_terminal)."""
    assert sim.tcp is not None
    clock.advance(INTERVAL_S * (n - 1))
    sim.loggers[ADDRESS].sync()
    assert sim.loggers[ADDRESS].memory[-1].sequence == n
    config = write_config(tmp_path, sim.tcp.url, "timeout_s = 0.2\n")
    return await loggerd_in_a_terminal(*command, "--config", str(config), "--device", "logger")


def stored(tmp_path: Path) -> tuple[list[int], list[tuple[EventKind, dict[str, object]]]]:
    """The record numbers stored for channel `air`, and the backfill events."""
    store = Store(sqlite_url(tmp_path / "data"))
    try:
        rows = store.history("c", ["air"], 0, 2**62)
        events = store.events("c", kinds=[EventKind.BACKFILL_STARTED, EventKind.BACKFILL_DONE])
    finally:
        store.close()
    sequences = sorted(s.sequence or 0 for s in rows if s.time_source is TimeSource.LOGGER)
    return sequences, [(e.kind, e.details) for e in events]


async def test_the_bar_counts_records_once_with_the_log_lines_above_it(
    tmp_path: Path, sim: SimulatorHost, manual_clock: ManualClock
) -> None:
    code, out, shown = await by_hand(tmp_path, sim, manual_clock, 43, "backfill")
    assert code == 0, shown
    assert out.splitlines() == [
        "logger: records 1..43: 43 downloaded, 0 lost to the logger's memory wrapping (see the "
        "gap events), 172 samples in the store (0 were there)"
    ]
    bars = [BAR.match(s) for s in shown if s.startswith("logger:")]
    assert bars and all(bars), shown  # nothing else starts like the bar: no empty bar
    counts = [(int(b[2]), int(b[3])) for b in bars if b is not None]
    assert all(done <= total for done, total in counts)
    assert counts[-1] == (43, 43)
    for line in shown:  # every line is a bar or a log line, never both: no interleaving
        assert bool(BAR.match(line)) != bool(LOG_LINE.match(line)), line
        assert "acquisition stopped" not in line  # no daemon ran
    assert stored(tmp_path)[0] == list(range(1, 44))


@pytest.mark.parametrize("n", [3, 43])
async def test_a_backfill_by_hand_is_recorded_however_short(
    tmp_path: Path, sim: SimulatorHost, manual_clock: ManualClock, n: int
) -> None:
    """A person's download is an act in the chamber's record: three records read by hand are
    as much a backfill event as forty (the daemon's own small catch-ups are not announced)."""
    code, _, shown = await by_hand(tmp_path, sim, manual_clock, n, "backfill")
    assert code == 0, shown
    sequences, events = stored(tmp_path)
    assert sequences == list(range(1, n + 1))
    (started,) = [d for k, d in events if k is EventKind.BACKFILL_STARTED]
    (done,) = [d for k, d in events if k is EventKind.BACKFILL_DONE]
    assert started == {"first_sequence": 1, "last_sequence": n, "by_hand": True}
    assert done["records"] == n


class DropOneWindow(FaultPlan):
    """Answers everything, except the request after the first record pointer is set: the
    first window of records goes unanswered once (one timeout)."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = False
        self.pointer = reference_logger().field("record_pointer").address

    def log(self, answer: Answer) -> None:
        super().log(answer)
        pdu = answer.request_pdu
        sets_pointer = pdu[0] == mb.WRITE_MULTIPLE and int.from_bytes(pdu[1:3], "big") == (
            self.pointer
        )
        if sets_pointer and not self.dropped:
            self.dropped = True
            self.script.append("drop")


async def test_a_single_timeout_is_tried_again_as_the_daemon_does(
    tmp_path: Path, sim: SimulatorHost, manual_clock: ManualClock
) -> None:
    assert sim.tcp is not None
    sim.tcp.faults = faults = DropOneWindow()
    code, out, shown = await by_hand(tmp_path, sim, manual_clock, 12, "backfill")
    assert faults.dropped
    assert code == 0, shown
    assert out.startswith("logger: records 1..12: 12 downloaded")
    (warning,) = [s for s in shown if " WARNING " in s]
    assert "c/logger: reading its memory: no complete reply from device 1" in warning
    assert warning.endswith("; trying again")
    assert stored(tmp_path)[0] == list(range(1, 13))


async def test_clock_set_reports_no_daemon_run(
    tmp_path: Path, sim: SimulatorHost, manual_clock: ManualClock
) -> None:
    code, out, shown = await by_hand(tmp_path, sim, manual_clock, 3, "clock", "set")
    assert code == 0, shown
    assert out.startswith("logger: clock set to ")
    assert not [s for s in shown if "acquisition stopped" in s or "samples written" in s]
