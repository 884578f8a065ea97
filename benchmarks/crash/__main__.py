"""The command line: `python -m benchmarks.crash --kills 10 [--store postgresql] …` from the
repository root. Prints the report as one JSON line last on stdout; exit status 0 when every
target is met."""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import crash
from benchmarks.crash import note
from benchmarks.crash.harness import Harness
from benchmarks.crash.simulator import SimThread
from loggerd.core.errors import LoggerdError
from loggerd_sim.faults import FaultRates
from loggerd_sim.host import SimOptions


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.crash", description=(crash.__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs (default 10)")
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--faults",
        default="",
        help="link faults, FaultRates.parse syntax; on TCP drop, late, busy and reboot apply "
        "(e.g. drop=0.02,late=0.01,busy=0.01)",
    )
    parser.add_argument("--fault-seed", type=int, default=0)
    parser.add_argument("--loggers", type=int, choices=[1, 2], default=2)
    parser.add_argument(
        "--wrap",
        action="store_true",
        help="loggers with a small memory (--capacity) that wraps while loggerd is down: the "
        "overwritten records must be exactly the gaps",
    )
    parser.add_argument("--capacity", type=int, default=None, help="records per logger memory")
    parser.add_argument("--seed", type=int, default=None, help="kill moments (default: random)")
    parser.add_argument("--settle-timeout", type=float, default=180.0, metavar="S")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and schema")
    args = parser.parse_args(argv)
    if args.kills < 0:
        parser.error("--kills must be >= 0")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**31)
    if args.wrap and args.capacity is None:
        args.capacity = 60  # six seconds at 10 Hz: a longer downtime overwrites records
    return args


def loggerd_version() -> str:
    """The commit loggerd runs from, "-dirty" when its code has uncommitted changes."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src", "sim", "drivers"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def run(harness: Harness, sim: SimThread) -> dict[str, Any]:
    """The scenario, with its own failure made a report: loggerd that does not come back after
    a kill is a finding, not a harness crash."""
    try:
        return harness.run(sim)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        note(f"the run stopped: {exc}")
        return harness.stopped_report(exc)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    faults = FaultRates.parse(args.faults) if args.faults else None
    started = time.monotonic()
    commit = loggerd_version()
    work = Path(tempfile.mkdtemp(prefix="loggerd-crash-"))
    harness = Harness(args, work)
    sim = SimThread(
        SimOptions(
            # The loggers' clocks run 10x: a 1 s logging interval records at 10 Hz of wall time.
            clock_speed=10.0,
            interval_s=1,
            addresses=tuple(harness.addresses),
            capacity=args.capacity,
            tcp=True,
            rtu=False,
            faults=faults,
            fault_seed=args.fault_seed,
            seed=args.seed,
        )
    )
    note(f"work folder {work}; store {args.store}; seed {args.seed}")
    try:
        harness.target.create()
    except LoggerdError as exc:  # PostgreSQL down: a failed run, said plainly
        note(f"cannot prepare the store: {exc}")
        shutil.rmtree(work, ignore_errors=True)
        print(json.dumps({"error": str(exc), "store": args.store, "targets_met": False}))
        return 1
    harness.prepare(sim, sim.start())
    try:
        result = run(harness, sim)
    finally:
        if harness.runs.daemon is not None and harness.runs.daemon.alive():
            harness.runs.daemon.kill()
        sim.stop()
        if not args.keep:
            harness.target.drop()
            if result["targets_met"]:
                shutil.rmtree(work, ignore_errors=True)
    result["wall_s"] = round(time.monotonic() - started, 1)
    result["loggerd_commit"] = commit
    result["work_dir"] = str(work) if work.exists() else None
    print(json.dumps(result), flush=True)
    return 0 if result["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
