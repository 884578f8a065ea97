"""The API's own process, started by acquisition's (service/api_process.py), never by hand.

It serves HTTP on the socket acquisition's process bound (so a restarted API answers on the
same port, and a request made meanwhile waits in the socket's backlog), reads history from the
store and live readings from the shared live view (mapped read-only), and learns devices'
health and the chambers' certificates from a snapshot it asks acquisition for: half a second
after the last one came while requests read devices' health, every five seconds while none
does (a snapshot of a thousand devices costs acquisition's process tens of milliseconds, paid
only as often as someone looks); a request that finds the last one older than half a second
waits for a fresh one. It loads no
driver, line or acquisition code, so nothing it does, however slow, can take a poll's time, and
if it dies acquisition starts another.

FD is one end of a socket pair to acquisition's process, carrying pickled messages:
  from acquisition: WorkerSpec and ("health", pickled ServedSnapshot) first, then a snapshot
                    each time one is asked for, and ("stop",) at the end;
  to acquisition:   ("ready",) once serving, ("health?",) to ask for a snapshot.
Its end closing (acquisition gone) stops the API too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import pickle
import signal
import socket
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from multiprocessing.connection import Connection

import uvicorn

from loggerd.api.app import create_app
from loggerd.api.ports import Ports
from loggerd.live.view import LiveHandle, LiveView
from loggerd.service.config import DaemonConfig
from loggerd.service.heap import freeze_start_up_objects
from loggerd.service.logs import setup_logging
from loggerd.service.ports import (
    SnapshotCertificates,
    SnapshotHealth,
    StoreHistory,
    StoreReports,
)
from loggerd.service.stores import open_store
from loggerd.storage.store import StoreError

log = logging.getLogger("loggerd.api")

SNAPSHOT_INTERVAL_S = 0.5  # while requests read devices' health
SNAPSHOT_IDLE_INTERVAL_S = 5.0  # while none does


@dataclass(frozen=True)
class WorkerSpec:
    config: DaemonConfig
    live: LiveHandle  # its descriptor is handed to this process under the same number
    socket_fd: int  # the bound, listening socket, likewise
    verbose: bool


class _Server(uvicorn.Server):
    # Signals are acquisition's to handle: Ctrl-C reaches every process of the terminal's
    # group, and this one stops when acquisition's says so (or goes away), not before.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class _Link:
    """This process's side of the socket pair, read on a thread of its own."""

    def __init__(self, conn: Connection, health: SnapshotHealth, server: uvicorn.Server) -> None:
        self.conn = conn
        self.health = health
        self.server = server
        self._send = threading.Lock()

    def send(self, message: tuple[str, ...]) -> None:
        with self._send:
            self.conn.send(message)

    def run(self) -> None:
        """Ask for a snapshot at once when a request waits for a fresh one, half a second
        after the last one came if a request has read devices' health since, five seconds
        after it otherwise (never two asked at once, so a stalled side never fills the other's
        buffer), until told to stop."""
        came, asked = -math.inf, False
        try:
            while True:
                interval_s = SNAPSHOT_INTERVAL_S if self.health.read else SNAPSHOT_IDLE_INTERVAL_S
                due = self.health.wanted or time.monotonic() >= came + interval_s
                if not asked and due:
                    self.send(("health?",))
                    asked = True
                if not self.conn.poll(0.02):  # a request waiting is asked for within 20 ms
                    continue
                message = self.conn.recv()
                if message[0] == "stop":
                    break
                if message[0] == "health":
                    self.health.update(pickle.loads(message[1]))
                    came, asked = time.monotonic(), False
        except (EOFError, OSError):
            log.warning("acquisition's process has gone; the API stops")
        self.server.should_exit = True


async def _serve(server: uvicorn.Server, sock: socket.socket, link: _Link) -> None:
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.02)
    if server.started:
        link.send(("ready",))
    await serving


def run(conn: Connection) -> None:
    spec: WorkerSpec = conn.recv()
    first = conn.recv()  # a snapshot comes with the spec: /health is never empty
    setup_logging(spec.verbose)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    store = open_store(spec.config)
    try:
        store.refresh_catalog()
    except StoreError as exc:  # it is read again on every miss
        log.warning("%s; the API answers from the store once it is back", exc)
    health = SnapshotHealth(store)
    health.update(pickle.loads(first[1]))
    ports = Ports(
        live=LiveView.attach(spec.live),
        health=health,
        catalog=store,
        history=StoreHistory(store),
        events=store,
        certificates=SnapshotCertificates(health),
        runs=store.runs,
        reports=StoreReports(store, SnapshotCertificates(health)),
        alarms=store.alarms,
    )
    app = create_app(ports, spec.config.api.max_raw_points)
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    link = _Link(conn, health, server)
    threading.Thread(target=link.run, name="loggerd-api-link", daemon=True).start()
    sock = socket.socket(fileno=spec.socket_fd)
    freeze_start_up_objects()  # the app, its schemas and the store: out of the full passes
    try:
        asyncio.run(_serve(server, sock, link))
    finally:
        store.close()


def main(fd: int) -> None:
    run(Connection(fd))
