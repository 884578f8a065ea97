"""`loggerd export`: raw history of a time range to a CSV or Parquet file, with a progress bar."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loggerd.cli.common import flag_time_us, store_flags, store_from_args
from loggerd.core.errors import ConfigError

if TYPE_CHECKING:
    from loggerd.service.config import DaemonConfig


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="export raw history of a time range to a file")
    store_flags(p)
    p.add_argument("--chamber", required=True)
    p.add_argument("--channel", action="append", help="repeat for several; all when absent")
    p.add_argument("--start", required=True, help="ISO 8601, UTC when no offset")
    p.add_argument("--end", required=True, help="ISO 8601, UTC when no offset")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv")
    p.add_argument("file", type=Path, metavar="FILE")
    p.set_defaults(run=_export)


def _past_due(config: DaemonConfig | None, chamber_id: str) -> dict[str, bool] | None:
    """Per channel, whether its certificate is past due (known only from a configuration)."""
    if config is None:
        return None
    from loggerd.service.ports import ProcessorCertificates
    from loggerd.service.wiring import build_processors

    (processors,) = build_processors(config.chambers)
    return ProcessorCertificates(processors).past_due(chamber_id)


def _export(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from loggerd.service.config import load_config
    from loggerd.storage.export import export_chunks
    from loggerd.storage.store import StoreError

    start_us, end_us = flag_time_us("--start", args.start), flag_time_us("--end", args.end)
    if start_us >= end_us:
        raise ConfigError(f"--start {args.start} must be before --end {args.end}")
    config = None if args.config is None else load_config(args.config)
    store = store_from_args(args, config)
    try:
        store.check_schema()
        metas = store.chamber_channels(args.chamber)
        if not metas:
            known = ", ".join(sorted(store.chamber_names())) or "none"
            raise StoreError(f"no chamber {args.chamber!r} in {store.url}; known: {known}")
        channel_ids = args.channel or [m.channel_id for m in metas]
        for c in channel_ids:
            store.channel(args.chamber, c)  # a clear error for an unknown channel
        total = store.count(args.chamber, channel_ids, start_us, end_us)
        out = args.file
        tqdm.monitor_interval = 0  # no monitor thread: the bar is updated every chunk anyway
        with (
            tqdm(total=total, unit="samples", unit_scale=True, desc=out.name) as bar,
            out.open("wb") as f,
        ):

            def progress(samples: int) -> None:
                bar.update(samples)

            for chunk in export_chunks(
                store,
                args.chamber,
                channel_ids,
                start_us,
                end_us,
                args.format,
                None,
                progress,
                _past_due(config, args.chamber),
            ):
                f.write(chunk)
        print(f"{out}: {total} samples of {', '.join(channel_ids)} ({args.format})")
    finally:
        store.close()
    return 0
