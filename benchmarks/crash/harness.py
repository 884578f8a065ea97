"""The scenario: loggerd started, killed at aimed moments and restarted `--kills` times against
the simulated loggers, then caught up and stopped; the oracle's verdict made into the report."""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.crash import note
from benchmarks.crash.aims import MODES, Aims
from benchmarks.crash.daemon import (
    PHASES,
    DaemonProcess,
    Runs,
    config_text,
    downloading,
    wait_health,
)
from benchmarks.crash.oracle import CHANNELS, SimLog, Verdict, judge
from benchmarks.crash.simulator import RecordingMemory, SimThread
from benchmarks.crash.store import StoreTarget


class Harness:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.work = work
        self.addresses = list(range(1, args.loggers + 1))
        self.target = StoreTarget(
            args.store,
            work / "data",
            f"loggerd_crash_{uuid.uuid4().hex[:12]}" if args.store == "postgresql" else None,
        )
        self.config = work / "loggerd.toml"
        self.runs = Runs(self.config, work / "loggerd.log", args.kills)
        self.aims = Aims(self.rng, self.target, self.runs.ready)
        self.recording = RecordingMemory()

    def prepare(self, sim: SimThread, tcp_url: str) -> None:
        """With --wrap, keep every record the loggers take; write loggerd's configuration."""
        if self.args.wrap:
            self.recording = RecordingMemory()
            self.recording.attach(sim)
        self.config.write_text(config_text(self.target, tcp_url, self.addresses), "utf-8")

    def run(self, sim: SimThread) -> dict[str, Any]:
        args = self.args
        runs = self.runs
        pg_restart_at = args.kills // 2 if args.store == "postgresql" else None
        # A first download with something in it: records pile up before the first start (with
        # --wrap, fewer than the memory holds: records no loggerd ever saw are no loss of it).
        first_wait_s = self.rng.uniform(0.3, 0.8) if args.wrap else self.rng.uniform(3.0, 6.0)
        time.sleep(first_wait_s)  # sync-ok: records accumulate in the loggers
        d = runs.start()
        attempt = 0
        while len(runs.kills) < args.kills:
            mode = MODES[attempt % len(MODES)]
            attempt += 1
            if len(runs.kills) == pg_restart_at and not self.aims.postgres_restarts:
                self.aims.postgres_restart(d)
            snapshot = self.aims.aim(mode, d)
            runs.kill(mode, snapshot, sim)
            self.aims.after_kill()
            longer = MODES[attempt % len(MODES)] == "backfill"
            down_s = self.rng.uniform(3.0, 6.0) if longer else self.rng.uniform(0.2, 3.0)
            time.sleep(down_s)  # sync-ok: the downtime, in which records pile up
            d = runs.start()
        runs.ready(d)
        return self.finish(d, sim)

    def finish(self, d: DaemonProcess, sim: SimThread) -> dict[str, Any]:
        truth = sim.freeze()
        if self.args.wrap:
            # Every record ever taken, not only those the ring memory still holds.
            truth = {a: list(self.recording.records[a]) for a in self.addresses}
        newest = {a: (records[-1].sequence if records else 0) for a, records in truth.items()}
        note(f"loggers stopped at records {newest}; waiting for loggerd to catch up")

        def caught_up(h: dict[str, Any]) -> bool:
            cursors = {
                int(dev["device_id"].split("-")[1]): (dev.get("backfill") or {}).get("cursor")
                for dev in h["devices"]
            }
            return (
                all(cursors.get(a) == n for a, n in newest.items()) and h["writer"]["queued"] == 0
            )

        settle_started = time.monotonic()
        last = wait_health(d, caught_up, self.args.settle_timeout)
        settled = bool(last and caught_up(last))
        settle_s = time.monotonic() - settle_started
        note(f"{'caught up' if settled else 'NOT caught up'} in {settle_s:.1f} s; SIGTERM")
        if not settled:
            dump = self.work / "last_health.json"
            dump.write_text(json.dumps(last, indent=1), "utf-8")
            note(f"loggerd's last health: {dump}")
        final_code = d.terminate(90)
        self.runs.exit_codes[final_code] += 1
        log = (
            SimLog(dict(self.recording.overwritten), dict(self.recording.served))
            if self.args.wrap
            else None
        )
        verdict = judge(self.target, truth, log, self.attribute)
        return self.report(verdict, settled, settle_s, final_code, last)

    def attribute(self, address: int, sequence: int) -> dict[str, Any]:
        """Which run took a record: the first kill at which the logger held it."""
        for k in self.runs.kills:
            if k.newest.get(address, 0) >= sequence:
                return {
                    "taken_before_kill": k.index + 1,
                    "kill_phase": k.phase,
                    "kill_mode": k.mode,
                }
        return {"taken_before_kill": None}

    def targets_met(self, v: Verdict, settled: bool, final_code: int) -> bool:
        c = v.comparison
        return (
            c.lost == 0
            and c.duplicates == 0
            and c.mismatched == 0
            and v.integrity_ok
            and len(self.runs.kills) == self.args.kills
            and final_code == 0
            and settled
            # Without --wrap no record is ever overwritten: any gap would be a false alarm.
            and (v.gap_check.get("gaps_ok", False) if self.args.wrap else not v.stored_gaps)
            and (
                self.args.store != "postgresql"
                or all(p["recovered"] for p in self.aims.postgres_restarts)
            )
        )

    def report(
        self,
        v: Verdict,
        settled: bool,
        settle_s: float,
        final_code: int,
        last_health: dict[str, Any] | None,
    ) -> dict[str, Any]:
        c = v.comparison
        kills = self.runs.kills
        phases = Counter(k.phase for k in kills)
        return {
            "kills": len(kills),
            "kill_phases": {p: phases.get(p, 0) for p in PHASES},
            "kill_modes": dict(Counter(k.mode for k in kills)),
            "kills_while_downloading": sum(
                1 for k in kills if k.snapshot is not None and downloading(k.snapshot)
            ),
            "restarts": self.runs.starts - 1,
            "clean_stops_before_kill": self.runs.clean_stops,
            "exit_codes": {str(k): n for k, n in sorted(self.runs.exit_codes.items())},
            "final_exit_code": final_code,
            "store": self.args.store,
            "faults": self.args.faults or None,
            "loggers": len(self.addresses),
            "channels_per_logger": len(CHANNELS),
            "records_expected": c.records_expected,
            "records_stored": c.records_stored,
            "samples_expected": c.samples_expected,
            "samples_stored": c.samples_stored,
            "lost": c.lost,
            "lost_records": c.lost_records,
            "duplicates": c.duplicates,
            "mismatched": c.mismatched,
            "mismatched_values": c.mismatched_values,
            "mismatched_times": c.mismatched_times,
            "host_rows": c.host_rows,
            "integrity_ok": v.integrity_ok,
            "integrity": {
                **v.unique,
                "rollup_mismatched_buckets": v.rollups,
                "spool_entries_left": v.spool_entries,
            },
            "gaps": len(v.stored_gaps),
            "gap_records": sum(g.last_sequence - g.first_sequence + 1 for g in v.stored_gaps),
            **v.gap_check,
            "events": dict(sorted(v.event_counts.items())),
            "postgres_restarts": len(self.aims.postgres_restarts),
            "postgres_restart_details": self.aims.postgres_restarts,
            "store_stalls": self.aims.stalls,
            "settled": settled,
            "settle_s": round(settle_s, 2),
            "writer_at_end": None
            if last_health is None
            else {
                k: last_health["writer"].get(k)
                for k in ("written", "duplicates", "conflicts", "failed_flushes")
            },
            "examples": c.examples,
            "seed": self.args.seed,
            "targets_met": self.targets_met(v, settled, final_code),
        }

    def stopped_report(self, exc: BaseException) -> dict[str, Any]:
        """The report of a run that stopped half way (loggerd did not come back after a kill)."""
        return {
            "error": str(exc),
            "kills": len(self.runs.kills),
            "kill_phases": dict(Counter(k.phase for k in self.runs.kills)),
            "exit_codes": {str(k): n for k, n in sorted(self.runs.exit_codes.items())},
            "store": self.args.store,
            "seed": self.args.seed,
            "targets_met": False,
        }
