"""The simulated loggers, in this process on a thread of their own: they keep recording and
answering while loggerd is dead, and their memories are the ground truth."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable

from loggerd_protocol.values import Record
from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.modbus_server import DEVICE_LOCK


class SimThread:
    """The simulator on its own event loop, so it answers whatever this thread waits for."""

    def __init__(self, options: SimOptions) -> None:
        self.host = SimulatorHost(options)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="crash-sim", daemon=True)

    def start(self) -> str:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.host.start(), self.loop).result(30)
        if self.host.faults is not None:
            self.host.faults.record = False  # the answers are not needed: do not keep them all
        assert self.host.tcp is not None
        return self.host.tcp.url

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.host.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()

    def newest(self) -> dict[int, int]:
        """Each logger's newest record now (taking the records that fell due)."""
        with DEVICE_LOCK:
            out = {}
            for address, logger in self.host.loggers.items():
                logger.sync()
                out[address] = logger.memory[-1].sequence if logger.memory else 0
            return out

    def freeze(self) -> dict[int, list[Record]]:
        """Stop every logger recording and return what each holds: the ground truth."""
        with DEVICE_LOCK:
            out = {}
            for address, logger in self.host.loggers.items():
                logger.sync()  # records that fell due are taken before logging stops
                logger.settings.logging = False
                out[address] = list(logger.memory)
            return out


class _RecordingDeque(deque[Record]):
    """A logger's ring memory that keeps every record appended to it in `kept`, and when each
    one it overwrote went (host time, µs)."""

    def __init__(
        self, records: deque[Record], kept: list[Record], overwritten: dict[int, int]
    ) -> None:
        super().__init__(records, records.maxlen)
        self.kept = kept
        self.overwritten = overwritten

    def append(self, record: Record) -> None:
        if self.maxlen is not None and len(self) == self.maxlen:
            self.overwritten[self[0].sequence] = time.time_ns() // 1000
        self.kept.append(record)
        super().append(record)


class RecordingMemory:
    """The simulator's own log, kept apart from anything loggerd says: every record a logger
    ever took, when its ring memory overwrote each one (--wrap), and which records it served
    (sent to a reader in a memory window)."""

    def __init__(self) -> None:
        self.records: dict[int, list[Record]] = defaultdict(list)
        self.overwritten: dict[int, dict[int, int]] = defaultdict(dict)
        self.served: dict[int, set[int]] = defaultdict(set)

    def attach(self, sim: SimThread) -> None:
        with DEVICE_LOCK:
            for address, logger in sim.host.loggers.items():
                kept = self.records[address]
                kept.extend(logger.memory)
                logger.memory = _RecordingDeque(logger.memory, kept, self.overwritten[address])
                logger._window_record = self._serving(  # type: ignore[method-assign, assignment]
                    logger._window_record, self.served[address]
                )

    @staticmethod
    def _serving(
        window_record: Callable[[int], Record | None], served: set[int]
    ) -> Callable[[int], Record | None]:
        def record(index: int) -> Record | None:
            r = window_record(index)
            if r is not None:
                served.add(r.sequence)
            return r

        return record
