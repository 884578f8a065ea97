"""`loggerd report`: a test run's report as PDF, HTML or JSON."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loggerd.cli.common import store_flags, store_from_args
from loggerd.core.errors import ConfigError

if TYPE_CHECKING:
    from loggerd.reports import ReportFormat

SUFFIXES: dict[str, ReportFormat] = {
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".json": "json",
}


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report", help="a test run's report (plots, statistics, verdicts, completeness)"
    )
    store_flags(p)
    p.add_argument(
        "--run",
        dest="run_id",
        type=int,
        required=True,
        help="the run's id (`loggerd runs list`)",
    )
    p.add_argument(
        "--format", choices=["pdf", "html", "json"], help="default: from FILE's extension"
    )
    p.add_argument(
        "--family",
        choices=["gb_t_5170", "jjf_1101", "iec_60068_3"],
        default="gb_t_5170",
        help="the standard whose statistics and evaluation window to use (default gb_t_5170)",
    )
    p.add_argument(
        "--rule",
        choices=["guarded", "simple"],
        default="guarded",
        help="ILAC-G8 decision rule: guarded (guard band U, default) or simple acceptance",
    )
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument("file", type=Path, metavar="FILE", help="the file to write")
    p.set_defaults(run=_report)


def _report(args: argparse.Namespace) -> int:
    from loggerd.reports import render
    from loggerd.service.config import load_config
    from loggerd.service.ports import ProcessorCertificates, StoreReports
    from loggerd.service.wiring import build_processors

    out: Path = args.file
    fmt = args.format or SUFFIXES.get(out.suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"{out}: cannot tell the format from its name: end it in .pdf, .html or .json, "
            "or give --format"
        )
    if out.exists() and not args.force:
        raise ConfigError(f"{out} exists: give --force to overwrite it, or name another file")
    config = None if args.config is None else load_config(args.config)
    store = store_from_args(args, config)
    try:
        store.check_schema()
        # Certificates are known from a configuration only (none with --url alone).
        processors = {} if config is None else build_processors(config.chambers)[0]
        data = StoreReports(store, ProcessorCertificates(processors)).gather(args.run_id)
    finally:
        store.close()
    body = render(data, fmt, args.family, args.rule)
    try:
        out.write_bytes(body)
    except OSError as exc:
        from loggerd.cli.common import file_problem

        raise ConfigError(file_problem(out, exc)) from None
    print(f"{out}: report of run {args.run_id} ({fmt}, {len(body):,} bytes)")
    return 0
