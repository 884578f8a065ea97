"""What several commands share: naming a store, reading a time from a flag, saying
what the machine refused.

Commands import what they need when they run, so `loggerd --help` stays quick."""

from __future__ import annotations

import argparse
import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from loggerd.core.errors import ConfigError

if TYPE_CHECKING:
    from tqdm import tqdm

    from loggerd.service.config import DaemonConfig
    from loggerd.storage.store import Store


@contextlib.contextmanager
def by_hand_logging() -> Iterator[None]:
    """Logging for a command that runs the daemon's parts by hand (backfill, clock set): log
    lines go above a progress bar, never into it."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():
        yield


def progress_bar(
    desc: str, unit: str, total: int | None = None, scale: bool = False
) -> tqdm[NoReturn]:
    """A progress bar on stderr, shown on a terminal only: in a log file or a pipe it would be
    noise (a line per refresh), and the command's last line says what was done anyway."""
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: callers update the bar as they go
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=scale, disable=None)


def store_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="the daemon's configuration (its [store])")
    p.add_argument("--url", help="or a store URL: sqlite:///FILE, postgresql://…")
    p.add_argument("--schema", help="with --url: the PostgreSQL schema")


def store_from_args(args: argparse.Namespace, config: DaemonConfig | None = None) -> Store:
    """The store --url names, or the one of --config (`config`, when the caller has read it)."""
    from loggerd.service.config import load_config
    from loggerd.service.stores import open_store
    from loggerd.storage.store import Store

    if args.url:
        from loggerd.service.config import store_url_problem

        problem = store_url_problem(args.url, args.schema)
        if problem is not None:
            raise ConfigError(f"--url: {problem}")
        return Store(args.url, schema=args.schema)
    if args.config is None:
        raise ConfigError("name the store: --config FILE or --url URL")
    return open_store(config or load_config(args.config))


def port_number(text: str) -> int:
    """A TCP port from a flag (argparse's `type`): 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: 0 to 65535 (0: any free port)")
    return port


def flag_time_us(flag: str, value: str) -> int:
    """A flag's ISO 8601 time as UTC µs (no offset means UTC), or a clear error."""
    from loggerd.core.times import TimeFormatError, parse_utc_us

    try:
        return parse_utc_us(value, flag)
    except TimeFormatError as exc:
        raise ConfigError(str(exc)) from None


def file_problem(path: Path, exc: OSError) -> str:
    """One line for a file the machine would not let us write: what, where, what to do."""
    hints = {
        errno.ENOENT: f"the folder {path.parent} does not exist: make it, or name another",
        errno.ENOTDIR: f"a part of {path.parent} is a file, not a folder: name another folder",
        errno.EISDIR: "it is a folder: name a file in it",
        errno.EACCES: "no permission to write there: name a folder you may write to",
        errno.EPERM: "no permission to write there: name a folder you may write to",
        errno.EROFS: "its disk is read-only: name a folder on another disk",
        errno.ENOSPC: "its disk is full: free some space on it, or name a folder on another disk",
        errno.EDQUOT: "your disk quota is used up: free some space, or name another disk",
    }
    reason = exc.strerror or str(exc)
    hint = hints.get(exc.errno or 0, "check the path and that the disk has room")
    return f"cannot write {path}: {reason[:1].lower()}{reason[1:]}; {hint}"
