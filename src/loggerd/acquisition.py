"""Polls each device on a fixed schedule and hands its samples on. Knows no SQL and no HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from .config import ChamberConfig, driver_settings
from .driver import DeviceInfo, Driver
from .errors import DriverError, LinkError
from .plugins import load_driver
from .samples import Quality, Reading, Sample, TimeSource

log = logging.getLogger(__name__)

Sink = Callable[[list[Sample]], Awaitable[None]]


def utc_now_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True)
class ChannelInfo:
    """A chamber channel and the device point that feeds it."""

    chamber_id: str
    channel_id: str
    device_id: str
    point: str
    name: str
    quantity: str
    unit: str


@dataclass(frozen=True)
class ChannelBinding:
    """Which device point feeds which chamber channel."""

    channel_id: str
    point: str


@dataclass
class DeviceHealth:
    state: str = "starting"  # starting | ok | error | offline
    last_ok_utc_us: int | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    reads_ok: int = 0
    reads_failed: int = 0
    missed_ticks: int = 0
    info: DeviceInfo | None = None
    errors_by_kind: dict[str, int] = field(default_factory=dict)


class DevicePoller:
    """One device: open it, read it every poll_interval_s on a drift-free schedule.

    Ticks fall at t0 + k * interval on the event loop's monotonic clock, so a slow read never
    shifts later ones; a read that overruns skips the ticks it covered (counted as missed).
    A failed read yields one sample per channel with value NaN and a quality flag.
    """

    def __init__(
        self,
        chamber_id: str,
        device_id: str,
        driver: Driver,
        bindings: Sequence[ChannelBinding],
        interval_s: float,
        sink: Sink,
        now_us: Callable[[], int] = utc_now_us,
    ) -> None:
        self.chamber_id = chamber_id
        self.device_id = device_id
        self.driver = driver
        self.bindings = list(bindings)
        self.interval_s = interval_s
        self.sink = sink
        self.now_us = now_us
        self.health = DeviceHealth()
        self._opened = False
        self.polls = 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        k = 0
        try:
            while True:
                await self.poll_once()
                k += 1
                now = loop.time()
                due = t0 + k * self.interval_s
                if due < now:
                    skipped = math.ceil((now - due) / self.interval_s)
                    self.health.missed_ticks += skipped
                    k += skipped
                    due = t0 + k * self.interval_s
                await asyncio.sleep(due - now)
        finally:
            await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with contextlib.suppress(DriverError):
            self.driver.close()
        self._opened = False

    def _read_blocking(self) -> tuple[int, list[Reading]]:
        if not self._opened:
            self.health.info = self.driver.open()
            self._opened = True
        before = self.now_us()
        readings = self.driver.read()
        after = self.now_us()
        return (before + after) // 2, readings

    async def poll_once(self) -> list[Sample]:
        """One poll: read the device and pass on its samples, or missing ones on failure."""
        started = self.now_us()
        try:
            timestamp_us, readings = await asyncio.to_thread(self._read_blocking)
        except DriverError as exc:
            samples = self._failed(started, exc)
        else:
            self.health.state = "ok"
            self.health.last_ok_utc_us = timestamp_us
            self.health.consecutive_failures = 0
            self.health.reads_ok += 1
            by_point = {r.point: r for r in readings}
            samples = []
            for b in self.bindings:
                r = by_point.get(b.point)
                if r is None:
                    r = Reading(b.point, math.nan, math.nan, Quality.INVALID)
                samples.append(
                    Sample(
                        self.chamber_id,
                        b.channel_id,
                        timestamp_us,
                        r.value,
                        r.raw_value,
                        r.quality,
                        TimeSource.HOST,
                    )
                )
        await self.sink(samples)
        self.polls += 1  # completed polls: their samples have been handed on
        return samples

    def _failed(self, timestamp_us: int, exc: DriverError) -> list[Sample]:
        quality = Quality.MISSING if isinstance(exc, LinkError) else Quality.INVALID
        kind = type(exc).__name__
        h = self.health
        h.errors_by_kind[kind] = h.errors_by_kind.get(kind, 0) + 1
        h.reads_failed += 1
        h.consecutive_failures += 1
        h.last_error = str(exc)
        h.state = "offline" if isinstance(exc, LinkError) else "error"
        if h.consecutive_failures == 1 or h.consecutive_failures % 60 == 0:
            log.warning(
                "%s/%s: %s (%d failures in a row)",
                self.chamber_id,
                self.device_id,
                exc,
                h.consecutive_failures,
            )
        if isinstance(exc, LinkError):
            self._close()  # reopen on the next tick: the port or connection may come back
        return [
            Sample(
                self.chamber_id,
                b.channel_id,
                timestamp_us,
                math.nan,
                math.nan,
                quality,
                TimeSource.HOST,
            )
            for b in self.bindings
        ]


class Acquisition:
    """Every device of every chamber: builds the drivers and pollers and starts them."""

    def __init__(self, chambers: Sequence[ChamberConfig], sink: Sink) -> None:
        self.pollers: list[DevicePoller] = []
        self.channels: list[ChannelInfo] = []
        for chamber in chambers:
            for device in chamber.devices:
                settings = driver_settings(device, "config", "", f"device {device.id!r}")
                driver = load_driver(device.driver)(settings)
                points = {p.name: p for p in driver.points()}
                bindings = []
                for ch in device.channels:
                    p = points[ch.point]
                    self.channels.append(
                        ChannelInfo(
                            chamber.id,
                            ch.id,
                            device.id,
                            ch.point,
                            ch.name or ch.id,
                            ch.quantity or p.quantity,
                            ch.unit or p.unit,
                        )
                    )
                    bindings.append(ChannelBinding(ch.id, ch.point))
                self.pollers.append(
                    DevicePoller(
                        chamber.id, device.id, driver, bindings, device.poll_interval_s, sink
                    )
                )

    def start(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(p.run(), name=f"poll-{p.device_id}") for p in self.pollers]
