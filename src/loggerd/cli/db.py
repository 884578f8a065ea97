"""`loggerd db upgrade|status`: the history database's schema."""

from __future__ import annotations

import argparse
from typing import Any

from loggerd.cli.common import store_flags, store_from_args


def add_parser(sub: Any) -> None:
    p = sub.add_parser("db", help="the history database's schema (db upgrade, db status)")
    dsub = p.add_subparsers(dest="db_command", required=True)
    store_flags(dsub.add_parser("upgrade", help="create or migrate the schema to the newest"))
    store_flags(dsub.add_parser("status", help="print the schema revision"))
    p.set_defaults(run=_db)


def _db(args: argparse.Namespace) -> int:
    from loggerd.storage.store import head_revision

    store = store_from_args(args)
    try:
        if args.db_command == "upgrade":
            revision = store.upgrade()
            print(f"{store.url}: schema at revision {revision} (newest)")
        else:
            current = store.revision()
            state = "newest" if current == head_revision() else "run `loggerd db upgrade`"
            print(f"{store.url}: schema at revision {current or 'none'} ({state})")
    finally:
        store.close()
    return 0
