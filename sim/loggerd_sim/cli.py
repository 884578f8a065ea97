"""`loggerd sim`: the simulator alone, its endpoints printed, until Ctrl-C. Its flags come from
SimOptions (options.py), where each is declared once with its default and help."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
from collections.abc import Collection, Mapping
from typing import Any

from loggerd.core.errors import ConfigError

from .options import Flag, SimOptions

_DECLARED = "_simulator_flags"
EXIT_AT_ONCE = 3  # as loggerd's own second signal


def add_flags(
    parser: argparse.ArgumentParser,
    names: Collection[str] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> None:
    """Add the flags of SimOptions' fields (of `names` only, when given); `defaults` replaces
    a field's default (`loggerd demo` records every 2 s, not 10)."""
    defaults = defaults or {}
    declared = []
    for f in dataclasses.fields(SimOptions):
        spec = f.metadata.get("flag")
        if not isinstance(spec, Flag) or (names is not None and f.name not in names):
            continue
        declared.append(f.name)
        default = defaults.get(f.name, f.default)
        unset = default is None or default is dataclasses.MISSING or default == ""
        shown = "" if unset else f" (default {spec.show(default)})"
        if spec.parse is None:
            action = "store_false" if spec.negates else "store_true"
            parser.add_argument(spec.flag, dest=f.name, action=action, help=spec.help)
        else:
            parser.add_argument(
                spec.flag,
                dest=f.name,
                action="append" if spec.repeat else "store",
                metavar=spec.metavar or spec.flag.lstrip("-").replace("-", "_").upper(),
                help=spec.help + shown,
            )
    # Which of the namespace's names are the simulator's: a command's own flag of the same
    # name (the demo's API --host) must not reach the simulator.
    parser.set_defaults(**defaults, **{_DECLARED: tuple(declared)})


def options(args: argparse.Namespace, **fixed: Any) -> SimOptions:
    """SimOptions from parsed flags (texts turned into values here, so that a bad one is a
    clear error); `fixed` sets fields the command decides itself."""
    values: dict[str, Any] = {}
    declared = getattr(args, _DECLARED, ())
    for f in dataclasses.fields(SimOptions):
        spec = f.metadata.get("flag")
        if f.name not in declared or not isinstance(spec, Flag):
            continue
        if getattr(args, f.name, None) is None:
            continue
        given = getattr(args, f.name)
        if spec.parse is None or not isinstance(given, str | list):
            values[f.name] = given
            continue
        try:
            values[f.name] = spec.parse(given)
        except ValueError as exc:
            raise ConfigError(
                str(exc) if spec.flag in str(exc) else f"{spec.flag}: {exc}"
            ) from None
    return SimOptions(**{**values, **fixed})


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sim", help="run the simulator alone and print its endpoints")
    add_flags(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(options(args)))


async def _serve(opts: SimOptions) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            os._exit(EXIT_AT_ONCE)  # a second Ctrl-C: the simulator holds nothing to save
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
    from . import host as sim_host  # looked up at run time: tests put a host of their own

    try:
        sim = sim_host.SimulatorHost(opts)
    except ValueError as exc:  # a setting the simulated loggers do not take
        raise ConfigError(f"simulator: {exc}") from None
    await sim.start()
    try:
        for name, url in sim.endpoints().items():
            print(f"{name}: {url}", flush=True)
        print(
            f"addresses: {', '.join(map(str, opts.addresses))}; profile {sim.profile.name!r}; "
            f"programme speed x{opts.speed:g} (the loggers keep real time); seed {opts.seed}. "
            "Ctrl-C stops.",
            flush=True,
        )
        await stop.wait()
    finally:
        await sim.stop()
    return 0
