"""A simulator started for a test and stopped however the test ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.logger import SimClock


@asynccontextmanager
async def simulator(options: SimOptions, clock: SimClock) -> AsyncIterator[SimulatorHost]:
    host = SimulatorHost(options, clock=clock)
    await host.start()
    try:
        yield host
    finally:
        await host.stop()
