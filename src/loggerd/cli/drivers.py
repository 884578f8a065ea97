"""`loggerd drivers`: the drivers installed in the entry-point group loggerd.drivers."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    sub.add_parser("drivers", help="list the installed drivers").set_defaults(run=_list)


def _list(_args: argparse.Namespace) -> int:
    from loggerd.drivers.registry import available_drivers

    for name, ep in sorted(available_drivers().items()):
        print(f"{name}\t{ep.value}")
    return 0
