"""Runs loggerd until asked to stop: acquisition with the API in a process of its own (`loggerd
run`, `loggerd demo`), or an API replica with the API in its own event loop (`loggerd api`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Generator
from typing import Protocol

import uvicorn

from loggerd.api.app import create_app
from loggerd.api.ports import Ports
from loggerd.core.errors import LoggerdError
from loggerd.live.view import LiveView
from loggerd.service.api_process import ApiProcess, listening_socket
from loggerd.service.config import DaemonConfig
from loggerd.service.heap import freeze_start_up_objects
from loggerd.service.ports import ServedSnapshot

log = logging.getLogger(__name__)


class Service(Protocol):
    """What serve() runs: the daemon, or an API replica."""

    config: DaemonConfig

    def ports(self) -> Ports: ...

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Stop; for the daemon: after every accepted sample is written."""


class Acquiring(Service, Protocol):
    """What serve_apart() runs: the daemon."""

    live: LiveView

    def snapshot(self) -> ServedSnapshot: ...


class _ApiServer(uvicorn.Server):
    # uvicorn re-raises a captured SIGINT/SIGTERM after its own shutdown, which would end the
    # process before the writer has flushed; loggerd handles the signals itself instead.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


# Exit status after a second SIGINT/SIGTERM: stopped at once, not cleanly.
EXIT_AT_ONCE = 3


def install_stop_signals(stop: asyncio.Event) -> None:
    """The first SIGINT/SIGTERM stops cleanly (every accepted sample written); a second one
    exits at once. Nothing is lost either way: accepted samples are in the spool on disk and
    are written at the next start, and the loggers' memories hold the rest (backfill)."""
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if not stop.is_set():
            log.info("%s: stopping; writing what waits (a second signal exits at once)", sig.name)
            stop.set()
            return
        log.warning(
            "%s again: exiting at once; accepted samples not yet in the store stay in the "
            "spool and are written at the next start",
            sig.name,
        )
        logging.shutdown()
        os._exit(EXIT_AT_ONCE)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal, sig)


async def _serve_api(server: uvicorn.Server, host: str, port: int) -> None:
    try:
        await server.serve()
    except SystemExit:
        # uvicorn exits the process when it cannot bind; we stop the daemon cleanly instead.
        raise LoggerdError(
            f"the API could not start on {host}:{port} (is the port taken by another program, "
            "or the address not on this machine?); choose another with --port or [api] port "
            "in the configuration"
        ) from None


async def serve(
    service: Service,
    host: str,
    port: int,
    stop: asyncio.Event,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Start the service and the API; on `stop`, stop both (the daemon writes every accepted
    sample first)."""
    await service.start()
    freeze_start_up_objects()
    server = _ApiServer(
        uvicorn.Config(
            create_app(service.ports(), service.config.api.max_raw_points),
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    api = asyncio.create_task(_serve_api(server, host, port), name="loggerd-api")
    try:
        while not server.started:
            if api.done():
                api.result()  # raises why the API could not start
                raise LoggerdError(f"the API on {host}:{port} stopped during start-up")
            await asyncio.sleep(0.02)
        bound = server.servers[0].sockets[0].getsockname()
        url = f"http://{host}:{bound[1]}"
        if on_ready is not None:
            on_ready(url)
        stop_wait = asyncio.create_task(stop.wait())
        await asyncio.wait({api, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await api
        await service.stop()  # always: every accepted sample is written before we return


async def serve_apart(
    service: Acquiring,
    host: str,
    port: int,
    stop: asyncio.Event,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Start acquisition here and the API in a process of its own, serving on host:port; on
    `stop`, stop the API, then acquisition (which writes every accepted sample first). The API's
    process is started again if it dies; acquisition does not notice."""
    sock = listening_socket(host, port)
    api = ApiProcess(service.config, service.live, sock, service.snapshot)
    api.start()
    try:
        await service.start()
    except BaseException:
        await api.stop()
        sock.close()
        raise
    freeze_start_up_objects()
    try:
        await api.ready()
        if on_ready is not None:
            bound = sock.getsockname()
            on_ready(f"http://{host}:{bound[1]}")
        await stop.wait()
    finally:
        await api.stop()
        sock.close()
        await service.stop()  # always: every accepted sample is written before we return
