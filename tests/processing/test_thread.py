"""Processing runs on loggerd's own processing thread: never on the event loop's thread, never on
asyncio's default executor, one batch at a time in the order they were handed in."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.processing.pipeline import ChamberProcessor, DerivedSpec, Processing
from loggerd.processing.thread import THREAD_NAME, ProcessingThread
from loggerd_sim.host import SimulatorHost

from ..service.daemons import device_toml, make_daemon, settle

T0 = 1_780_000_000_000_000


class Watched(Processing):
    """Processing that notes the thread each batch ran on, and the batches in order."""

    def __init__(self) -> None:
        fp = DerivedSpec("fp", "frost_point", "t", "rh")
        super().__init__({"c": ChamberProcessor("c", {}, [fp])}, {})
        self.threads: list[threading.Thread] = []
        self.batches: list[int] = []

    def process(self, samples: list[Sample]) -> list[Sample]:
        self.threads.append(threading.current_thread())
        self.batches.append(samples[0].timestamp_us)
        return super().process(samples)


def poll(i: int) -> list[Sample]:
    ts = T0 + i * 1_000_000
    return [
        Sample("c", "t", ts, -30.0 + i, -30.0 + i, Quality.GOOD, TimeSource.HOST),
        Sample("c", "rh", ts, 20.0, 20.0, Quality.GOOD, TimeSource.HOST),
    ]


async def test_batches_are_processed_on_the_processing_thread_in_order() -> None:
    processing = Watched()
    worker = ProcessingThread(processing)
    try:
        results = await asyncio.gather(*(worker.process(poll(i)) for i in range(20)))
    finally:
        await asyncio.to_thread(worker.close)
    loop_thread = threading.current_thread()
    (thread,) = set(processing.threads)  # one thread for every batch
    assert thread is not loop_thread and thread.name.startswith(THREAD_NAME)
    assert not thread.name.startswith("asyncio_")  # not the default executor's
    assert not thread.is_alive()  # close() ended it
    assert processing.batches == [T0 + i * 1_000_000 for i in range(20)]
    # What the thread computed is what the pipeline computes, each poll with its frost point.
    reference = Processing(
        {"c": ChamberProcessor("c", {}, [DerivedSpec("fp", "frost_point", "t", "rh")])}, {}
    )
    assert results == [reference.process(poll(i)) for i in range(20)]


async def test_the_daemon_processes_off_the_loop(tmp_path: Path, sim: SimulatorHost) -> None:
    assert sim.tcp is not None
    derived = (
        '[[chamber.derived]]\nid = "dp"\nquantity = "dew_point"\ntemperature = "air"\nrh = "rh"\n'
    )
    daemon = make_daemon(tmp_path, device_toml("c", "logger", sim.tcp.url, 2) + derived)
    threads: list[threading.Thread] = []
    process = daemon.processing.process

    def watched(samples: list[Sample]) -> list[Sample]:
        threads.append(threading.current_thread())
        return process(samples)

    daemon.processing.process = watched  # type: ignore[method-assign]
    await daemon.start()
    try:
        await settle(daemon, 3 * 5)  # three polls: four channels and the dew point
    finally:
        await daemon.stop()
    assert threads and all(t.name.startswith(THREAD_NAME) for t in threads)
    assert threading.current_thread() not in threads


async def test_a_chamber_with_nothing_to_compute_is_passed_on_as_it_is() -> None:
    processing = Watched()
    processing.live["plain"] = ChamberProcessor("plain", {}, [])
    worker = ProcessingThread(processing)
    samples = [Sample("plain", "t", T0, 1.0, 1.0, Quality.GOOD, TimeSource.HOST)]
    try:
        assert await worker.process(samples) is samples
    finally:
        await asyncio.to_thread(worker.close)
    assert processing.threads == []  # no trip to the thread for it
