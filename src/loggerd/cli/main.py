"""The `loggerd` command: demo, run, api, sim, config check, drivers, db, calibration, export,
backfill and clock set, one module each."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from loggerd import __version__
from loggerd.cli import (
    backfill,
    calibration,
    clock,
    config,
    db,
    demo,
    drivers,
    export,
    report,
    run,
    runs,
)
from loggerd.core.errors import LoggerdError
from loggerd.service.logs import setup_logging
from loggerd_sim import cli as sim

DESCRIPTION = (
    "Acquisition for temperature and humidity data loggers beside climatic test chambers: "
    "polls the loggers, keeps their records and serves them over HTTP."
)
EPILOG = "`loggerd COMMAND --help` tells a command's options."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loggerd", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"loggerd {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, title="commands", metavar="COMMAND")
    demo.add_parser(sub)
    run.add_parsers(sub)
    sim.add_parser(sub)
    config.add_parser(sub)
    drivers.add_parser(sub)
    db.add_parser(sub)
    calibration.add_parser(sub)
    export.add_parser(sub)
    backfill.add_parser(sub)
    clock.add_parser(sub)
    runs.add_parser(sub)
    report.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        code: int = args.run(args)
    except LoggerdError as exc:
        print(f"loggerd: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # A file or a device the machine refused where no command says it more precisely.
        where = f"{exc.filename}: " if exc.filename else ""
        print(
            f"loggerd: error: {where}{exc.strerror or exc}; check the path, its permissions "
            "and the room on its disk",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
