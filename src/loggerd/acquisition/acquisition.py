"""Every device of every chamber: a poller per device (and a memory follower per logger whose
history is its memory), started and stopped together, on lines they share."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from loggerd.acquisition.follower import MemoryFollower
from loggerd.acquisition.ledger import ClockPolicy, Emit, Ledger, Sink
from loggerd.acquisition.line_gate import LineGate
from loggerd.acquisition.poller import ChannelBinding, DevicePoller, LineDownloads, PollPolicy
from loggerd.core.backoff import Backoff
from loggerd.core.times import utc_now_us
from loggerd.drivers.base import Driver, MemoryDriver
from loggerd.link.lines import LinePool
from loggerd.link.worker import LineWorker


@dataclass(frozen=True)
class DeviceSpec:
    """One device as acquisition needs it: its driver (built on the shared line pool), which
    of its points feed which channels, and how to poll it."""

    chamber_id: str
    device_id: str
    driver: Driver
    bindings: tuple[ChannelBinding, ...]
    interval_s: float
    policy: PollPolicy = field(default_factory=PollPolicy)
    # A logger with a memory of its own: are its records the history (True), or its live
    # reads (False)? Devices without a memory always store their live reads.
    history_from_memory: bool = True
    clock: ClockPolicy = field(default_factory=ClockPolicy)
    backfill_duty: float = 0.5


class Acquisition:
    """Builds a poller per device and starts them; `lines` is the pool their drivers share.

    Each line (the devices naming one serial port or TCP endpoint) gets one thread, where its
    devices' requests run one at a time, live polls first; a device on no shared line gets a
    thread of its own. A line of two or more devices also gets a LineGate, which quarantines
    it as a whole when none of them answers; its back-off is its first device's policy's."""

    def __init__(
        self,
        devices: Sequence[DeviceSpec],
        lines: LinePool,
        sink: Sink,
        live_sink: Sink | None = None,
        emit: Emit | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.lines = lines
        self.workers: dict[str, LineWorker] = {}
        self.pollers: list[DevicePoller] = []
        self.gates: dict[str, LineGate] = {}
        followers: dict[str, LineDownloads] = {}
        on_lines: dict[str, list[DeviceSpec]] = {}
        for d in devices:
            on_lines.setdefault(_line(d), []).append(d)
        for line, specs in on_lines.items():
            if len(specs) > 1:
                p = specs[0].policy
                backoff = Backoff(p.backoff_initial_s, p.backoff_max_s, p.backoff_jitter)
                names = [f"{s.chamber_id}/{s.device_id}" for s in specs]
                self.gates[line] = LineGate(line, names, backoff)
        for d in devices:
            line = _line(d)
            worker = self.workers.get(line)
            if worker is None:
                worker = self.workers[line] = LineWorker(line)
                gate = self.gates.get(line)
                if gate is not None:
                    worker.held = gate.held
            on_line = followers.setdefault(line, LineDownloads())
            follower = None
            if (
                isinstance(d.driver, MemoryDriver)
                and d.history_from_memory
                and emit is not None
                and ledger is not None
                and d.bindings
            ):
                follower = MemoryFollower(
                    d.chamber_id,
                    d.device_id,
                    d.driver,
                    [(b.point, b.channel_id) for b in d.bindings],
                    sink,
                    emit,
                    ledger,
                    utc_now_us,
                    d.clock,
                    worker=worker,
                )
                on_line.append(follower)
            self.pollers.append(
                DevicePoller(
                    d.chamber_id,
                    d.device_id,
                    d.driver,
                    d.bindings,
                    d.interval_s,
                    sink,
                    policy=d.policy,
                    follower=follower,
                    live_sink=live_sink if follower is not None else None,
                    backfill_duty=d.backfill_duty,
                    worker=worker,
                    line_followers=on_line,
                    line_gate=self.gates.get(line),
                )
            )

    def start(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(p.run(), name=f"poll-{p.device_id}") for p in self.pollers]

    def close(self) -> None:
        """Stop the lines' threads and close the lines (call after the pollers have stopped)."""
        for worker in self.workers.values():
            worker.stop()
        self.lines.close()


def _line(d: DeviceSpec) -> str:
    """The line a device is on: its url, or a line of its own."""
    return d.driver.line or f"{d.chamber_id}/{d.device_id}"
