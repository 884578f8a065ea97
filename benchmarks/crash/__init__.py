"""Does loggerd lose, duplicate or alter a single logger record when it is killed at any moment?

The simulator runs in this process (its threads keep answering while loggerd is dead), with one
or two reference loggers on Modbus TCP recording at 10 Hz of wall time (clock_speed 10, a 1 s
logging interval: the loggers' clocks run ten times as fast as the host's, so their measured offsets
keep growing; the offset and drift limits are set out of reach). loggerd runs as a subprocess,
`python -m loggerd run --config … --port 0`, and is killed with SIGKILL `--kills` times, each
kill aimed at a moment of a different kind, in turn:

- backfill: after a long downtime, as soon as /api/v1/health shows a device downloading its
  logger's memory;
- drain: while the store is held (another connection locks it for 1–3 s, as a backup or an
  export would) and the writer falls behind, or just after it lets go and the spool drains;
- uniform: at a uniformly random moment of a run;
- startup: at a random moment after the process starts, often before the API is up (the store
  being opened, the spool's leftovers written, the first download);
- stopping: 0–0.1 s after a SIGTERM, while loggerd stops (a stop that wins the race is not
  counted as a kill; another attempt follows).

What a kill really hit is the phase the last health snapshot, taken just before the kill, shows:
`startup` (no API yet), `drain` (the writer behind: the store degraded, or the oldest sample
waiting for more than 1 s — this includes the start-up drain of the last run's spool),
`backfill` (a device downloading), else `write` (following the loggers, batches going through
the spool to the store); and `stopping` for the kills of that mode. Between a kill and the
restart a random downtime (0.2–3 s; 3–6 s before a backfill-aimed kill) lets records pile up
in the loggers.
With `--store postgresql` PostgreSQL is also restarted once half way, under a running loggerd
(`pg_ctlcluster … restart`), which must ride it out on its spool.

At the end the loggers stop recording (the ground truth is frozen), loggerd gets a SIGTERM once
every device's backfill cursor is the logger's newest record and nothing is queued, and the
store, opened read-only, is compared with the loggers' memories record by record:

- lost: (record, channel) pairs with no sample of that record's sequence;
- mismatched: samples whose raw value differs from the record's value as the wire carries it
  (int16 × 0.01; NaN ↔ NULL), or whose logger time ts_us + clock_offset_us is not the record's
  timestamp exactly;
- duplicates: samples beyond one per (channel, sequence), and logger-stamped samples whose
  sequence the logger never recorded;
- integrity_ok: SQLite's integrity_check (PostgreSQL: no two samples share (channel, sequence)
  or (channel, ts_us), and the unique indexes are valid), every rollup tier equal to the
  aggregates recomputed from the raw samples, and the spool empty.

lost and mismatched count samples (record × channel; lost_records counts records). With
`--wrap` the loggers' memories are small (60 records) and overwrite records while loggerd is
down. The simulator logs, apart from anything loggerd says, when its memory overwrote each
record and which records it served: a record may be in a gap only if the logger had
overwritten it when loggerd declared the gap, none may be both in a gap and stored, and every
other record must be stored. Without --wrap there must be no gap at all.

    python -m benchmarks.crash --kills 10 [--store postgresql] [--faults drop=0.02,late=0.01]

Progress goes to stderr; the last line on stdout is one JSON object. Exit status 0 when lost,
duplicates and mismatched are 0, integrity_ok is true, the gaps are as expected, every kill
happened, loggerd caught up with the loggers and its final stop was clean; 1 otherwise.

The parts, in the order a run uses them: `__main__` (the command line), `harness` (the scenario:
kills in turn, restarts, the report), `aims` (the moment each kill is aimed at, and the store
held or PostgreSQL restarted under a running loggerd), `daemon` (loggerd as a subprocess, its
configuration and what its health says), `simulator` (the loggers, their memories the ground
truth), `store` (the store under test) and `oracle` (the comparison and the integrity checks:
what the tests import to see that it can say no).
"""

from __future__ import annotations

import sys
import time


def note(message: str) -> None:
    """Progress, on stderr (stdout carries only the report)."""
    print(f"[crash {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
