"""The processing thread: corrections and derived channels computed off the event loop.

A download of a logger's memory hands on hundreds of records at once, and their processing
would hold the event loop, and with it every poll, for as long as it takes. It runs on one
thread of its own instead, owned by loggerd: not asyncio's default executor, which spool
appends and store writes share (a batch there would wait behind them, and they behind it).
One thread, so batches are processed in the order they were handed in: a chamber's processors
remember the latest inputs, and a derived value must see them in that order.
"""

from __future__ import annotations

import asyncio
import concurrent.futures

from loggerd.core.samples import Sample
from loggerd.processing.pipeline import Processing

__all__ = ["THREAD_NAME", "ProcessingThread"]

THREAD_NAME = "loggerd-processing"


class ProcessingThread:
    """Runs `processing.process` on a thread of its own, one batch at a time, in order."""

    def __init__(self, processing: Processing) -> None:
        self.processing = processing
        # One worker: a FIFO of batches on one thread (started at the first batch).
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=THREAD_NAME
        )

    async def process(self, samples: list[Sample]) -> list[Sample]:
        """`processing.process(samples)`, computed on the processing thread. A caller that is
        cancelled stops waiting; the batch is still processed (a processor's memory of the
        latest inputs moves on as if it had been kept)."""
        if not samples or not self.processing.computes(samples[0].chamber_id):
            return samples  # nothing to compute: not worth a trip to the thread
        return await asyncio.wrap_future(self._executor.submit(self.processing.process, samples))

    def close(self) -> None:
        """Finish the batches handed in, then end the thread (blocks; idempotent)."""
        self._executor.shutdown(wait=True)
