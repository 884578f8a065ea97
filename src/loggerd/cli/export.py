"""`loggerd export`: raw history of a time range to a CSV or Parquet file, with a progress bar."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from loggerd.cli.common import (
    file_problem,
    flag_time_us,
    progress_bar,
    store_flags,
    store_from_args,
)
from loggerd.core.errors import ConfigError

if TYPE_CHECKING:
    from loggerd.service.config import DaemonConfig
    from loggerd.storage.export import Format


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="export raw history of a time range to a file")
    store_flags(p)
    p.add_argument("--chamber", required=True, help="the chamber's id")
    p.add_argument("--channel", action="append", help="repeat for several; all when absent")
    p.add_argument("--start", required=True, help="ISO 8601, UTC when no offset")
    p.add_argument("--end", required=True, help="ISO 8601, UTC when no offset")
    p.add_argument(
        "--format",
        choices=["csv", "parquet"],
        help="default: from FILE's extension (.csv, .parquet)",
    )
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument("file", type=Path, metavar="FILE", help="the file to write")
    p.set_defaults(run=_export)


def _format(args: argparse.Namespace) -> Format:
    from loggerd.storage.export import SUFFIXES

    if args.format is not None:
        fmt: Format = args.format
        return fmt
    found = SUFFIXES.get(args.file.suffix.lower())
    if found is None:
        raise ConfigError(
            f"{args.file}: cannot tell the format from its name: end it in "
            f"{' or '.join(SUFFIXES)}, or give --format csv or --format parquet"
        )
    return found


@contextlib.contextmanager
def _written(out: Path) -> Iterator[IO[bytes]]:
    """`out`, written whole or not at all: the export goes to a partial file beside it, which
    takes its name once complete, so an export cut short (a full disk, Ctrl-C) leaves no file
    that looks whole, and --force replaces a file only with a complete one. A device or a
    pipe (not a regular file) is written as it is. A file the machine refuses is one error
    that says what to do."""
    direct = out.exists() and not out.is_file()
    target = out if direct else out.with_name(f".{out.name}.partial")
    try:
        with target.open("wb") as f:
            yield f
        if not direct:
            os.replace(target, out)
    except OSError as exc:
        raise ConfigError(file_problem(out, exc)) from None
    finally:
        if not direct:
            target.unlink(missing_ok=True)


def _past_due(config: DaemonConfig | None, chamber_id: str) -> dict[str, bool] | None:
    """Per channel, whether its certificate is past due (known only from a configuration)."""
    if config is None:
        return None
    from loggerd.service.ports import ProcessorCertificates
    from loggerd.service.wiring import build_processors

    (processors,) = build_processors(config.chambers)
    return ProcessorCertificates(processors).past_due(chamber_id)


def _export(args: argparse.Namespace) -> int:
    from loggerd.service.config import load_config
    from loggerd.storage.export import export_chunks
    from loggerd.storage.store import StoreError

    start_us, end_us = flag_time_us("--start", args.start), flag_time_us("--end", args.end)
    if start_us >= end_us:
        raise ConfigError(f"--start {args.start} must be before --end {args.end}")
    out: Path = args.file
    fmt = _format(args)
    if out.is_file() and not args.force:
        raise ConfigError(f"{out} exists: give --force to overwrite it, or name another file")
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
        with _written(out) as f, progress_bar(out.name, "samples", total, scale=True) as bar:

            def progress(samples: int) -> None:
                bar.update(samples)

            for chunk in export_chunks(
                store,
                args.chamber,
                channel_ids,
                start_us,
                end_us,
                fmt,
                None,
                progress,
                _past_due(config, args.chamber),
            ):
                f.write(chunk)
        print(f"{out}: {total} samples of {', '.join(channel_ids)} ({fmt})")
    finally:
        store.close()
    return 0
