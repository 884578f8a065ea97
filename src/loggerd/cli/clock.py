"""`loggerd clock set`: set a logger's clock by hand, and record it (the daemon stopped)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from loggerd.cli.common import by_hand_logging, flag_time_us


def add_parser(sub: Any) -> None:
    p = sub.add_parser("clock", help="set a logger's clock by hand, and record it (clock set)")
    clksub = p.add_subparsers(dest="clock_command", required=True)
    c = clksub.add_parser(
        "set", help="set a logger's clock to the host's, and record it (stop `loggerd run` first)"
    )
    c.add_argument("--config", type=Path, required=True, help="the daemon's configuration")
    c.add_argument("--device", required=True, help="the logger's device id")
    c.add_argument("--chamber", help="when the device id is in several chambers")
    c.add_argument("--to", help="ISO 8601 time to set (default: the host's clock, UTC)")
    c.set_defaults(run=lambda args: asyncio.run(_clock_set(args)))


async def _clock_set(args: argparse.Namespace) -> int:
    from loggerd.service.config import load_config
    from loggerd.service.manual import set_clock

    config = load_config(args.config)
    to_s = None if args.to is None else flag_time_us("--to", args.to) // 1_000_000
    with by_hand_logging():
        r = await set_clock(config, args.device, args.chamber, to_s)
    print(
        f"{args.device}: clock set to {r.set_to_utc_s} (UTC epoch s); offset "
        f"{r.before.offset_us / 1e6:+.3f} s before, {r.after.offset_us / 1e6:+.3f} s "
        f"(± {r.after.uncertainty_us / 1e6:.3f} s) after; recorded as a clock_set event"
    )
    return 0
