"""`loggerd runs`: open, close and list test runs (a chamber under a test profile)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loggerd.cli.common import flag_time_us, store_flags, store_from_args
from loggerd.core.errors import ConfigError

if TYPE_CHECKING:
    from loggerd.core.profiles import Profile, Run


def add_parser(sub: Any) -> None:
    p = sub.add_parser("runs", help="open, close and list test runs (a chamber under a profile)")
    runsub = p.add_subparsers(dest="runs_command", required=True)

    c = runsub.add_parser("create", help="open a run on a chamber, from now or --start")
    store_flags(c)
    c.add_argument("--chamber", required=True, help="the chamber's id")
    c.add_argument("--test", required=True, help="the test's identifier, e.g. DO-160G 4.5.1")
    c.add_argument("--uut", required=True, help="the unit under test, e.g. its serial number")
    c.add_argument("--operator", required=True, help="who runs the test")
    c.add_argument(
        "--profile", type=Path, required=True, help="the test profile: a .toml or .json file"
    )
    c.add_argument("--start", help="ISO 8601, UTC when no offset (default: now)")
    c.add_argument("--notes", default="", help="free text kept with the run")
    c.set_defaults(run=_create)

    x = runsub.add_parser("close", help="close an open run, now or at --end")
    store_flags(x)
    x.add_argument("run_id", type=int, metavar="ID", help="the run's id (`loggerd runs list`)")
    x.add_argument("--end", help="ISO 8601, UTC when no offset (default: now)")
    x.set_defaults(run=_close)

    ls = runsub.add_parser("list", help="list runs, newest first")
    store_flags(ls)
    ls.add_argument("--chamber", help="only this chamber's runs")
    ls.add_argument("--open", action="store_true", help="only runs still open")
    ls.set_defaults(run=_list)


def read_profile(path: Path) -> Profile:
    """A profile file: TOML (`[[segments]]` tables) or JSON; errors name the file and line or
    segment."""
    from loggerd.core.profiles import parse_profile
    from loggerd_protocol.toml_document import TomlDocument, TomlDocumentError

    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the profile: {exc.strerror or exc}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    else:
        try:
            data = TomlDocument.read(path, "the profile").data
        except TomlDocumentError as exc:
            raise ConfigError(str(exc)) from None
    return parse_profile(data, str(path))


def describe(run: Run) -> str:
    from loggerd.core.times import iso

    span = f"{iso(run.start_us)} .. {'open' if run.end_us is None else iso(run.end_us)}"
    return (
        f"run {run.id}: {run.chamber_id}, {span}, test {run.test_id!r}, "
        f"unit {run.unit_under_test!r}, operator {run.operator!r}, "
        f"{len(run.profile.segments)} segments ({run.profile.duration_s / 3600:g} h)"
    )


def _create(args: argparse.Namespace) -> int:
    from loggerd.core.times import utc_now_us
    from loggerd.storage.store import StoreError

    profile = read_profile(args.profile)
    now = utc_now_us()
    start_us = now if args.start is None else flag_time_us("--start", args.start)
    store = store_from_args(args)
    try:
        store.check_schema()
        store.refresh_catalog()
        if args.chamber not in store.chamber_names():
            known = ", ".join(sorted(store.chamber_names())) or "none"
            raise StoreError(f"no chamber {args.chamber!r} in {store.url}; known: {known}")
        run = store.runs.create(
            args.chamber, args.test, args.uut, args.operator, profile, start_us, now, args.notes
        )
        print(describe(run))
    finally:
        store.close()
    return 0


def _close(args: argparse.Namespace) -> int:
    from loggerd.core.times import utc_now_us

    end_us = utc_now_us() if args.end is None else flag_time_us("--end", args.end)
    store = store_from_args(args)
    try:
        store.check_schema()
        print(describe(store.runs.close(args.run_id, end_us)))
    finally:
        store.close()
    return 0


def _list(args: argparse.Namespace) -> int:
    store = store_from_args(args)
    try:
        store.check_schema()
        runs = store.runs.list(args.chamber, args.open)
        for run in runs:
            print(describe(run))
        if not runs:
            print("no runs")
    finally:
        store.close()
    return 0
