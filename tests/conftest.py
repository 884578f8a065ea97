"""Shared fixtures: the simulator on real transports, and a guard against leaked resources."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import HealthCheck, settings

from loggerd_sim.ascii_server import AsciiPtyServer
from loggerd_sim.chamber import Chamber
from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.logger import LoggerSettings, ManualClock, SimulatedLogger
from loggerd_sim.profile import builtin_profile

from .simulators import simulator

# In CI the property tests run a fixed sequence of examples (a failure there is reproducible
# and never a matter of luck); developers' runs keep exploring new ones.
# No deadlines anywhere: an example's run time is a benchmark's business, not a test's, and a
# loaded machine would fail a correct codec.
settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def _open_endpoints() -> set[str]:
    """Sockets and terminals this process holds open (by fd and target)."""
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(("socket:", "/dev/pts", "/dev/ptmx")):
            out.add(f"{fd}->{target}")
    return out


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves threads, sockets or serial lines open behind it."""
    threads_before = set(threading.enumerate())
    fds_before = _open_endpoints()
    yield
    # FastAPI runs a sync route in one of AnyIO's worker threads, which stops a moment after
    # the task that started it ends (the event loop is gone by now): wait for that moment, so
    # a thread is flagged only if it really outlives the test.
    for thread in set(threading.enumerate()) - threads_before:
        if thread.name == "AnyIO worker thread":
            thread.join(timeout=5)
    leaked_threads = [
        t
        for t in threading.enumerate()
        if t not in threads_before and t.is_alive() and not t.name.startswith("asyncio_")
    ]
    leaked_fds = _open_endpoints() - fds_before
    assert not leaked_threads, f"test leaked threads: {leaked_threads}"
    assert not leaked_fds, f"test leaked sockets/terminals: {sorted(leaked_fds)}"


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def sim(manual_clock: ManualClock) -> AsyncIterator[SimulatorHost]:
    """A simulator with loggers at addresses 1 and 2, on Modbus TCP (port 0) and RTU (a pty)."""
    async with simulator(SimOptions(addresses=(1, 2), seed=7, interval_s=10), manual_clock) as host:
        yield host


@pytest.fixture
def ascii_logger(manual_clock: ManualClock) -> SimulatedLogger:
    """One simulated logger (8 channels, 10 s interval) on a manual clock."""
    chamber = Chamber(builtin_profile(), channel_count=8, seed=7)
    return SimulatedLogger(chamber, manual_clock, LoggerSettings(interval_s=10))


@pytest.fixture
async def ascii_server(ascii_logger: SimulatedLogger) -> AsyncIterator[AsciiPtyServer]:
    """That logger's RS-232 ASCII protocol on a pty."""
    srv = AsciiPtyServer(ascii_logger)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()
