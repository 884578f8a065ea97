"""What several commands share: logging, naming a store, reading a time from a flag.

Commands import what they need when they run, so `loggerd --help` stays quick."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from loggerd.core.errors import ConfigError

if TYPE_CHECKING:
    from loggerd.service.config import DaemonConfig
    from loggerd.storage.store import Store


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # Alembic narrates every migration step at INFO; loggerd says what matters itself.
        logging.getLogger("alembic").setLevel(logging.WARNING)


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


def flag_time_us(flag: str, value: str) -> int:
    """A flag's ISO 8601 time as UTC µs (no offset means UTC), or a clear error."""
    from loggerd.core.times import TimeFormatError, parse_utc_us

    try:
        return parse_utc_us(value, flag)
    except TimeFormatError as exc:
        raise ConfigError(str(exc)) from None

