"""`loggerd run` (acquisition and the API) and `loggerd api` (the API alone, a replica)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from loggerd.cli.common import port_number

if TYPE_CHECKING:
    from loggerd.service.config import DaemonConfig
    from loggerd.service.runtime import Acquiring, Service


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("run", help="run the daemon from a configuration file")
    _serve_flags(p)
    p.set_defaults(run=lambda args: asyncio.run(_run(args)))
    p = sub.add_parser(
        "api", help="serve the API from the configured store only (a replica; polls nothing)"
    )
    _serve_flags(p)
    p.set_defaults(run=lambda args: asyncio.run(_api(args)))


def _serve_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, required=True, help="the daemon's configuration")
    p.add_argument("--host", help="override the API address")
    p.add_argument("--port", type=port_number, help="override the API port (0: any free one)")


async def _run(args: argparse.Namespace) -> int:
    from loggerd.service.config import load_config
    from loggerd.service.daemon import Daemon

    config = load_config(args.config)
    return await _serve(args, config, Daemon(config), "loggerd", apart=True)


async def _api(args: argparse.Namespace) -> int:
    from loggerd.service.config import load_config
    from loggerd.service.replica import Replica

    # A replica polls nothing: its configuration's devices are not loaded.
    config = load_config(args.config, devices=False)
    return await _serve(args, config, Replica(config), "loggerd API (no acquisition)")


async def _serve(
    args: argparse.Namespace,
    config: DaemonConfig,
    service: Service,
    what: str,
    apart: bool = False,
) -> int:
    """Serve until stopped; `apart`: the service acquires, and the API runs in a process of its
    own so that nothing it does can delay a poll."""
    from loggerd.service.runtime import install_stop_signals, serve, serve_apart

    stop = asyncio.Event()
    install_stop_signals(stop)

    def ready(url: str) -> None:
        print(f"{what} is running: {url}/api/v1/chambers  (API docs: {url}/docs)", flush=True)

    host = args.host or config.api.host
    port = config.api.port if args.port is None else args.port
    if apart:
        await serve_apart(cast("Acquiring", service), host, port, stop, ready)
    else:
        await serve(service, host, port, stop, ready)
    return 0
