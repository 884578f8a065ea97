"""`loggerd backfill`: download a logger's memory into the store by hand (the daemon stopped)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from loggerd.cli.common import flag_time_us


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "backfill",
        help="download a logger's memory into the store by hand (stop `loggerd run` first)",
    )
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--chamber", help="when the device id is in several chambers")
    p.add_argument(
        "--since",
        help="from the first record at or after this logger time (ISO 8601, UTC when no "
        "offset); default: from where the device's history ends",
    )
    p.set_defaults(run=lambda args: asyncio.run(_backfill(args)))


async def _backfill(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from loggerd.service.config import load_config
    from loggerd.service.manual import backfill

    config = load_config(args.config)
    since_us = None if args.since is None else flag_time_us("--since", args.since)
    tqdm.monitor_interval = 0
    with tqdm(unit="records", desc=args.device) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = await backfill(config, args.device, args.chamber, since_us, progress)
    if report.first is None:
        print(f"{args.device}: the logger's memory is empty; nothing to backfill")
    else:
        print(
            f"{args.device}: records {report.first}..{report.last}: {report.downloaded} "
            f"downloaded, {report.lost} lost to the logger's memory wrapping (see the gap "
            f"events), {report.stored} samples in the store ({report.duplicates} were there)"
        )
    return 0
