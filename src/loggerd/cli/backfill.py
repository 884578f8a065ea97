"""`loggerd backfill`: download a logger's memory into the store by hand (the daemon stopped)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from loggerd.cli.common import by_hand_logging, flag_time_us, progress_bar

if TYPE_CHECKING:
    from tqdm import tqdm


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "backfill",
        help="download a logger's memory into the store by hand (stop `loggerd run` first)",
    )
    p.add_argument("--config", type=Path, required=True, help="the daemon's configuration")
    p.add_argument("--device", required=True, help="the logger's device id")
    p.add_argument("--chamber", help="when the device id is in several chambers")
    p.add_argument(
        "--since",
        help="from the first record at or after this logger time (ISO 8601, UTC when no "
        "offset); default: from where the device's history ends",
    )
    p.set_defaults(run=lambda args: asyncio.run(_backfill(args)))


async def _backfill(args: argparse.Namespace) -> int:
    from loggerd.service.config import load_config
    from loggerd.service.manual import backfill

    config = load_config(args.config)
    since_us = None if args.since is None else flag_time_us("--since", args.since)
    bar: tqdm[NoReturn] | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:  # made when there is something to count: no empty bar
            bar = progress_bar(args.device, " records", total)
        bar.total = total
        bar.update(done - bar.n)

    with by_hand_logging():
        try:
            report = await backfill(config, args.device, args.chamber, since_us, progress)
        finally:
            if bar is not None:
                bar.close()
    if report.newest == 0:
        print(f"{args.device}: the logger's memory is empty; nothing to backfill")
    elif report.first is None:
        print(f"{args.device}: nothing new; the store holds its records up to {report.newest}")
    else:
        print(
            f"{args.device}: records {report.first}..{report.last}: {report.downloaded} "
            f"downloaded, {report.lost} lost to the logger's memory wrapping (see the gap "
            f"events), {report.stored} samples in the store ({report.duplicates} were there)"
        )
    return 0
