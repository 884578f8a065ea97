"""`loggerd api`: the API in front of a shared store, polling nothing and writing nothing.

It builds only what it serves (the store; no drivers, lines, spool, writer or processing) and
serves whatever chambers the loggerds writing into that store have registered.
"""

from __future__ import annotations

import asyncio

from loggerd.api.ports import Ports
from loggerd.service.config import DaemonConfig
from loggerd.service.ports import NoLiveReadings, ServedHealth, store_ports
from loggerd.service.stores import open_store


class Replica:
    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.store = open_store(config)

    def ports(self) -> Ports:
        # No live view of its own: every chamber's latest comes from the store.
        return store_ports(self.store, NoLiveReadings(), ServedHealth(self.store), {})

    async def start(self) -> None:
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        self.store.prepare_schema()
        self.store.refresh_catalog()

    async def stop(self) -> None:
        await asyncio.to_thread(self.store.close)
