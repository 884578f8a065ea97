"""Wires a configuration into running parts: drivers, pollers, processing, the live view, the
writer and the store."""

from __future__ import annotations

import asyncio
import logging

from loggerd.acquisition.acquisition import Acquisition
from loggerd.acquisition.ledger import HistoryEnd
from loggerd.alarms.engine import ChannelStatus, DeviceStatus
from loggerd.api.ports import Ports
from loggerd.core.backoff import Backoff
from loggerd.core.channels import Channel
from loggerd.core.events import ClockCheck
from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.link.lines import LinePool
from loggerd.live.view import LiveView
from loggerd.processing.pipeline import Processing
from loggerd.processing.thread import ProcessingThread
from loggerd.service import wiring
from loggerd.service.alarms import AlarmService
from loggerd.service.config import DaemonConfig
from loggerd.service.ports import (
    ProcessorCertificates,
    ServedHealth,
    ServedSnapshot,
    served_snapshot,
    store_ports,
)
from loggerd.service.stores import open_store
from loggerd.service.wiring import DERIVED_DEVICE
from loggerd.storage.spool import SPOOL_FILE, Spool
from loggerd.storage.store import DeviceRow, SchemaError, StoreError
from loggerd.storage.writer import Writer

log = logging.getLogger(__name__)


class Daemon:
    """Acquisition, processing, the live view and the writer of one loggerd, and what the API
    reads of them (ports())."""

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = open_store(config)
        max_mb = config.store.spool_max_mb
        self.spool = Spool(
            config.data_dir / SPOOL_FILE,
            config.store.spool_synchronous,
            None if max_mb is None else int(max_mb * 1e6),
        )
        self.writer = Writer(
            self.store,
            config.store.batch_size,
            config.store.flush_interval_s,
            config.store.max_queued,
            spool=self.spool,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._acquiring = False  # start() polls; a manual command only uses the parts
        self.accepted = 0
        self.accepted_for_history = 0  # of which headed for the store (not live-only reads)
        self._accepted_changed: asyncio.Condition | None = None
        # One pool for every driver: devices naming one line share it and take turns.
        lines = LinePool()
        devices = wiring.device_specs(config.chambers, lines)
        self.acquisition = Acquisition(
            devices,
            lines,
            self._accept,
            live_sink=self._accept_live,
            emit=self.writer.submit_log,
            ledger=_StoreLedger(self),
        )
        self.pollers = self.acquisition.pollers
        # Calibration corrections and derived channels, per chamber.
        self.processors, records = wiring.build_processors(config.chambers, copies=2)
        self.processing = Processing(self.processors, records)
        # Computed on a thread of loggerd's own: a download's batch never holds the loop.
        self.processing_thread = ProcessingThread(self.processing)
        # Every channel: measured and derived, as the store's catalog registers them.
        self.channels: list[Channel] = wiring.channels(config.chambers, devices)
        # In memory shared with the API's process, which maps it read-only.
        self.live = LiveView.create(self.channels, config.ring_size)
        # Alarms are judged on a thread of their own, from what _accept hands them.
        self.alarms = AlarmService(config.alarms, self.store, self._alarm_status)
        self._alarms_on = False

    def _alarm_status(self) -> tuple[list[DeviceStatus], list[ChannelStatus]]:
        """What status alarms look at: each device's state and memory, each channel's
        certificate. Read from another thread: plain reads of fields the loop writes."""
        devices = []
        for p in self.pollers:
            unread = None
            b = p.follower.health if p.follower is not None else None
            if b is not None and None not in (b.cursor, b.logger_newest, b.logger_oldest):
                assert b.cursor is not None and b.logger_newest is not None
                assert b.logger_oldest is not None
                held = b.logger_newest - b.logger_oldest + 1
                unread = (b.logger_newest - max(b.cursor, b.logger_oldest - 1)) / max(held, 1)
            devices.append(
                DeviceStatus(
                    p.chamber_id, p.device_id, p.health.state in ("offline", "error"), unread
                )
            )
        certificates = ProcessorCertificates(self.processors)
        channels = [
            ChannelStatus(chamber_id, channel_id, past_due)
            for chamber_id in self.processors
            for channel_id, past_due in (certificates.past_due(chamber_id) or {}).items()
        ]
        return devices, channels

    def ports(self) -> Ports:
        """What the API reads of this loggerd, when it runs in this process."""
        return store_ports(self.store, self.live, self._health(), self.processors)

    def snapshot(self) -> ServedSnapshot:
        """What the API's process is told of this one (see ServedSnapshot)."""
        return served_snapshot(self._health(), self.processors)

    def _health(self) -> ServedHealth:
        drivers = {(c.id, d.id): d.driver for c in self.config.chambers for d in c.devices}
        return ServedHealth(self.store, self.pollers, drivers, self.writer.health)

    async def _accept_live(self, samples: list[Sample]) -> None:
        """A live read of a logger whose history comes from its memory: live view only."""
        await self._accept(samples, store=False)

    async def _accept(self, samples: list[Sample], store: bool = True) -> None:
        samples = await self.processing_thread.process(samples)
        # The live view is fed by live reads; a record downloaded from a logger's memory is
        # history only, and so is the note that a tick's poll could not run.
        if samples and samples[0].time_source is not TimeSource.LOGGER:
            self.live.accept([s for s in samples if s.quality is not Quality.SKIPPED])
        if store:
            # Counted when the writer has the batch, not when the spool append returns: a
            # poller stopped while it waits for the append leaves the batch to be written.
            def handed() -> None:
                self.accepted_for_history += len(samples)
                self.accepted += len(samples)

            await self.writer.submit(samples, handed)
        else:
            self.accepted += len(samples)
        if self._alarms_on:
            self.alarms.offer(samples)  # a queue's put: alarms never hold the poll
        if self._accepted_changed is not None:
            async with self._accepted_changed:
                self._accepted_changed.notify_all()

    async def wait_accepted(self, count: int, history: bool = False) -> None:
        """Wait until at least `count` samples have been accepted since start (with history:
        samples headed for the store, leaving out a memory-backed logger's live reads)."""
        if self._accepted_changed is None:
            self._accepted_changed = asyncio.Condition()

        def enough() -> bool:
            return (self.accepted_for_history if history else self.accepted) >= count

        async with self._accepted_changed:
            await self._accepted_changed.wait_for(enough)

    async def start(self) -> None:
        self._acquiring = True
        await self.open_history()
        await asyncio.to_thread(self.alarms.start)
        self._alarms_on = True
        self._tasks.extend(self.acquisition.start())
        store = self.config.store
        if store.raw_retention_days is not None or store.rollup_retention_days:
            self._tasks.append(asyncio.create_task(self._prune_loop(), name="loggerd-prune"))
        log.info(
            "acquisition started: %d devices, store %s",
            len(self.pollers),
            self.store.engine.url.render_as_string(hide_password=True),
        )

    async def open_history(self) -> None:
        """Register the configuration in the store and start the writer (which first writes
        what an earlier run left in the spool); start() then starts polling."""
        devices = [
            DeviceRow(chamber.id, d.id, d.driver)
            for chamber in self.config.chambers
            for d in chamber.devices
        ] + [DeviceRow(c.id, DERIVED_DEVICE, "loggerd") for c in self.config.chambers if c.derived]
        names = {c.id: c.name for c in self.config.chambers}
        try:
            await asyncio.to_thread(self.store.open, names, self.channels, devices)
        except SchemaError:
            raise  # an operator's job (`loggerd db upgrade`): no use acquiring into the void
        except StoreError as exc:
            # A store restarting must not keep acquisition from starting: samples wait in the
            # spool, and the store is opened as soon as it answers.
            log.error(
                "%s; acquiring anyway: samples wait in the spool until the store is back", exc
            )
            self._tasks.append(
                asyncio.create_task(
                    self._open_store_later(names, devices), name="loggerd-store-open"
                )
            )
        await self.writer.start()

    async def _open_store_later(
        self, names: dict[str, str | None], devices: list[DeviceRow]
    ) -> None:
        backoff = Backoff(1.0, 30.0)
        while True:
            await asyncio.sleep(backoff.next())
            try:
                await asyncio.to_thread(self.store.open, names, self.channels, devices)
            except StoreError as exc:
                log.warning("the store is still unavailable: %s", exc)
            else:
                log.info("the store is open: the spool drains")
                return

    async def _prune_loop(self) -> None:
        while True:
            try:
                deleted = await asyncio.to_thread(self.store.prune)
            except StoreError as exc:
                log.error("%s; retrying at the next prune", exc)
            else:
                if any(deleted.values()):
                    log.info("retention: deleted %s", deleted)
            await asyncio.sleep(self.config.store.prune_interval_s)

    async def stop(self) -> None:
        """Stop polling, then write every accepted sample before returning."""
        for t in self._tasks:
            t.cancel()
        # Whatever a task died of, the flush below must still happen.
        for t, result in zip(
            self._tasks, await asyncio.gather(*self._tasks, return_exceptions=True), strict=True
        ):
            if isinstance(result, Exception):
                log.error("%s had failed: %r", t.get_name(), result)
        self._tasks.clear()
        await asyncio.to_thread(self.acquisition.close)
        # Nothing hands in batches now; what was handed in is processed before the thread ends.
        await asyncio.to_thread(self.processing_thread.close)
        if self._alarms_on:
            self._alarms_on = False
            await asyncio.to_thread(self.alarms.stop)
        await self.writer.stop()
        self.spool.close()
        await asyncio.to_thread(self.store.close)
        self.live.close()
        if self._acquiring:
            log.info("acquisition stopped; %d samples written", self.writer.written)
        else:  # its parts ran for a person's command (backfill, clock set): it says the rest
            log.debug("stopped; %d samples written", self.writer.written)


class _StoreLedger:
    """Where a device's history ends, for backfill: from the store, which must be reachable."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self._channels: dict[tuple[str, str], list[str]] | None = None

    async def cursor(self, chamber_id: str, device_id: str) -> HistoryEnd | None:
        if not self.daemon.writer.backlog_written.is_set():
            # Records of the last run may still wait in the spool: asked now, the store would
            # answer too early (and a wrapped memory would look like a gap that is not one).
            raise StoreError("what the last run left in the spool is not all in the store yet")
        if self._channels is None:  # once: a scan of every channel per device grew with N²
            self._channels = {}
            for c in self.daemon.channels:
                self._channels.setdefault((c.chamber_id, c.device_id), []).append(c.channel_id)
        channels = self._channels.get((chamber_id, device_id), [])
        end = await asyncio.to_thread(self.daemon.store.device_cursor, chamber_id, channels)
        return None if end is None else HistoryEnd(*end)

    async def last_clock_check(self, chamber_id: str, device_id: str) -> ClockCheck | None:
        checks = await asyncio.to_thread(self.daemon.store.clock_checks, chamber_id, device_id, 1)
        return checks[0] if checks else None
