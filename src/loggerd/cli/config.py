"""`loggerd config check FILE`: validate a configuration as `loggerd run` would."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("config", help="check a configuration file (config check)")
    csub = p.add_subparsers(dest="config_command", required=True)
    c = csub.add_parser("check", help="validate a configuration file as `loggerd run` would")
    c.add_argument("file", type=Path, metavar="FILE", help="the configuration (TOML)")
    c.set_defaults(run=_check)


def _check(args: argparse.Namespace) -> int:
    from loggerd.service.config import load_config

    config = load_config(args.file)
    n_dev = sum(len(c.devices) for c in config.chambers)
    n_ch = sum(len(d.channels) for c in config.chambers for d in c.devices)
    print(f"{args.file}: OK ({len(config.chambers)} chambers, {n_dev} devices, {n_ch} channels)")
    return 0
