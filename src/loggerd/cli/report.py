"""`loggerd report`: a test run's report as PDF, HTML or JSON."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loggerd.cli.common import store_flags, store_from_args
from loggerd.core.errors import ConfigError

if TYPE_CHECKING:
    from loggerd.reports import Calibration, ReportFormat
    from loggerd.service.config import DaemonConfig

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


def _calibrations(config: DaemonConfig | None, chamber_id: str) -> dict[str, Calibration | None]:
    """Each channel's certificate, known only from a configuration."""
    if config is None:
        return {}
    from loggerd.reports import Calibration
    from loggerd.service.ports import ProcessorCertificates
    from loggerd.service.wiring import build_processors

    certificates = ProcessorCertificates(build_processors(config.chambers)[0])
    out: dict[str, Calibration | None] = {}
    for chamber in config.chambers:
        if chamber.id != chamber_id:
            continue
        for device in chamber.devices:
            for channel in device.channels:
                info = certificates.certificate(chamber_id, channel.id)
                out[channel.id] = (
                    None
                    if info is None
                    else Calibration(
                        info.certificate_id, info.version, info.due.isoformat(), info.past_due
                    )
                )
    return out


def _report(args: argparse.Namespace) -> int:
    from loggerd.reports import gather, render
    from loggerd.service.config import load_config

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
        run = store.runs.get(args.run_id)
        calibrations = None if run is None else _calibrations(config, run.chamber_id)
        data = gather(store, args.run_id, calibrations or None)
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
