"""The oracle: the store, opened read-only, against the loggers' memories record by record
(lost, mismatched, duplicate samples; gaps exactly where records were overwritten unread), and
the store's own integrity (unique samples, rollups equal to the raw samples, the spool empty).

It knows nothing of kills or of loggerd's process: tests/benchmarks/test_crash_harness.py builds
a store by hand, damages it and checks that the oracle says no."""

from __future__ import annotations

import math
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, select

from benchmarks.crash.store import StoreTarget
from loggerd.core.samples import VALUED_QUALITIES
from loggerd.storage.schema import TIERS, channels, events, gaps, rollup_tables, samples
from loggerd_protocol.definition import reference_logger
from loggerd_protocol.values import Record, decode_record, encode_record

DEFN = reference_logger()
# Every point of the reference logger, each bound to a channel.
CHANNELS = [(f"t{i}", f"temperature_{i}") for i in range(1, 9)] + [
    ("rh", "rh"),
    ("frost_point", "frost_point"),
]
VALUED = frozenset(q.value for q in VALUED_QUALITIES)

# Which run of loggerd should have stored a record: (logger address, sequence) -> details.
Attribute = Callable[[int, int], dict[str, Any]]


def wire_values(record: Record) -> dict[str, float]:
    """The record's values as the wire carries them (int16 × 0.01, NaN when missing)."""
    decoded = decode_record(DEFN, encode_record(DEFN, record))
    assert decoded is not None
    return dict(decoded.values)


# --- record by record -----------------------------------------------------------------------


@dataclass
class LoggerTruth:
    """One logger's memory as the comparison needs it."""

    address: int
    known: set[int]  # every sequence the logger recorded
    expected: list[Record]  # the records that must be stored (not in a gap by design)
    values: dict[int, dict[str, float]]  # each expected record's values as the wire carries them

    @classmethod
    def of(cls, address: int, records: list[Record], lost_sequences: set[int]) -> LoggerTruth:
        expected = [r for r in records if r.sequence not in lost_sequences]
        return cls(
            address,
            {r.sequence for r in records},
            expected,
            {r.sequence: wire_values(r) for r in expected},
        )


@dataclass
class Comparison:
    records_expected: int = 0
    records_stored: int = 0
    samples_expected: int = 0
    samples_stored: int = 0
    lost: int = 0
    lost_records: int = 0
    mismatched: int = 0
    mismatched_values: int = 0
    mismatched_times: int = 0
    duplicates: int = 0
    host_rows: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def example(self, what: str, **details: Any) -> None:
        if len(self.examples) < 20:
            self.examples.append({"what": what, **details})

    def count_duplicates(
        self, logger: LoggerTruth, channel_id: str, by_sequence: dict[int | None, list[Any]]
    ) -> set[int]:
        """Samples of one channel beyond one per recorded sequence, and every sample of a
        sequence the logger never recorded; returns the recorded sequences found."""
        found_known: set[int] = set()
        for sequence, found in by_sequence.items():
            extra = len(found) - 1 if sequence in logger.known else len(found)
            if extra:
                self.duplicates += extra
                self.example(
                    "duplicate",
                    logger=logger.address,
                    channel=channel_id,
                    sequence=sequence,
                    rows=len(found),
                )
            if sequence in logger.known:
                found_known.add(sequence)
        return found_known

    def check_sample(
        self,
        logger: LoggerTruth,
        channel_id: str,
        point: str,
        record: Record,
        hits: list[Any] | None,
        attribute: Attribute,
    ) -> bool:
        """One record on one channel: its sample lost, or stored with the record's raw value
        and logger time (else mismatched). False when it is lost."""
        address = logger.address
        self.samples_expected += 1
        if not hits:
            self.lost += 1
            self.example(
                "lost",
                logger=address,
                channel=channel_id,
                sequence=record.sequence,
                **attribute(address, record.sequence),
            )
            return False
        self.samples_stored += 1
        row = hits[0]
        want = logger.values[record.sequence][point]
        got = row.raw_value
        value_ok = (got is None and math.isnan(want)) or (
            got is not None and not math.isnan(want) and got == want
        )
        logger_time = None if row.clock_offset_us is None else row.ts_us + row.clock_offset_us
        time_ok = logger_time == record.timestamp * 1_000_000
        if not value_ok or not time_ok:
            self.mismatched += 1
            self.mismatched_values += not value_ok
            self.mismatched_times += not time_ok
            self.example(
                "mismatched",
                logger=address,
                channel=channel_id,
                sequence=record.sequence,
                raw_value=got,
                expected=None if math.isnan(want) else want,
                logger_time_us=logger_time,
                expected_time_us=record.timestamp * 1_000_000,
                **attribute(address, record.sequence),
            )
        return True


def _logger_samples(conn: Connection, key: int | None) -> dict[int | None, list[Any]]:
    """A channel's logger-stamped samples by sequence (none for a channel never stored)."""
    rows = (
        []
        if key is None
        else conn.execute(
            select(
                samples.c.sequence,
                samples.c.ts_us,
                samples.c.clock_offset_us,
                samples.c.raw_value,
            ).where((samples.c.channel_key == key) & (samples.c.time_source == "logger"))
        ).all()
    )
    by_sequence: dict[int | None, list[Any]] = defaultdict(list)
    for row in rows:
        by_sequence[row.sequence].append(row)
    return by_sequence


def compare_samples(
    engine: Engine,
    truth: dict[int, list[Record]],
    lost_sequences: dict[int, set[int]],
    attribute: Attribute,
) -> Comparison:
    """Every truth record on every channel against the store (lost_sequences: in gaps, by
    design, with --wrap: neither expected nor lost)."""
    c = Comparison()
    with engine.connect() as conn:
        keys = {
            (r.chamber_id, r.channel_id): r.key
            for r in conn.execute(
                select(channels.c.key, channels.c.chamber_id, channels.c.channel_id)
            )
        }
        c.host_rows = conn.execute(
            select(func.count()).select_from(samples).where(samples.c.time_source != "logger")
        ).scalar_one()
        for address, records in truth.items():
            logger = LoggerTruth.of(address, records, lost_sequences.get(address, set()))
            c.records_expected += len(logger.expected)
            stored_records: set[int] = set()
            incomplete: set[int] = set()
            for channel_id, point in CHANNELS:
                by_sequence = _logger_samples(conn, keys.get((f"chamber-{address}", channel_id)))
                stored_records |= c.count_duplicates(logger, channel_id, by_sequence)
                for record in logger.expected:
                    hits = by_sequence.get(record.sequence)
                    if not c.check_sample(logger, channel_id, point, record, hits, attribute):
                        incomplete.add(record.sequence)
            c.records_stored += len(stored_records)
            c.lost_records += len(incomplete)
    return c


def stored_sequences(engine: Engine, address: int) -> set[int]:
    """Sequences of a logger stored on at least one channel."""
    with engine.connect() as conn:
        keys = [
            r.key
            for r in conn.execute(
                select(channels.c.key).where(channels.c.chamber_id == f"chamber-{address}")
            )
        ]
        return {
            int(r.sequence)
            for r in conn.execute(
                select(samples.c.sequence)
                .where(samples.c.channel_key.in_(keys) & samples.c.sequence.is_not(None))
                .distinct()
            )
        }


# --- the store's integrity ------------------------------------------------------------------


def _agree(a: float, b: float, scale: float) -> bool:
    return abs(a - b) <= 1e-9 * max(scale, abs(a), abs(b), 1e-300)


def _recomputed_buckets(rows: Sequence[Any], width_us: int) -> dict[tuple[int, int], list[Any]]:
    """The rollup buckets of one tier computed from the raw samples: per (channel, bucket)
    [count, values, min, max, (first ts, value), (last ts, value)]."""
    want: dict[tuple[int, int], list[Any]] = {}
    for key, ts, value in rows:
        b = want.setdefault(
            (key, ts // width_us * width_us), [0, [], math.inf, -math.inf, None, None]
        )
        b[0] += 1
        b[1].append(value)
        b[2], b[3] = min(b[2], value), max(b[3], value)
        if b[4] is None or ts < b[4][0]:
            b[4] = (ts, value)
        if b[5] is None or ts > b[5][0]:
            b[5] = (ts, value)
    return want


def _bucket_agrees(want: list[Any], r: Any) -> bool:
    n, vals, lo, hi, first, last = want
    scale = math.fsum(abs(v) for v in vals)
    return bool(
        r.sample_count == n
        and _agree(r.value_sum, math.fsum(vals), scale)
        and r.value_min == lo
        and r.value_max == hi
        and (r.first_ts_us, r.first_value) == first
        and (r.last_ts_us, r.last_value) == last
    )


def check_rollups(engine: Engine) -> dict[str, int]:
    """Each rollup tier against the aggregates recomputed from the raw samples: mismatching
    buckets per tier (a bucket missing on either side counts)."""
    out: dict[str, int] = {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(samples.c.channel_key, samples.c.ts_us, samples.c.value).where(
                samples.c.quality.in_(sorted(VALUED)) & samples.c.value.is_not(None)
            )
        ).all()
        for tier in TIERS:
            want = _recomputed_buckets(rows, tier.width_us)
            table = rollup_tables[tier.name]
            have = {(r.channel_key, r.bucket_us): r for r in conn.execute(select(table))}
            bad = len(set(want) ^ set(have))
            bad += sum(not _bucket_agrees(want[k], have[k]) for k in set(want) & set(have))
            out[tier.name] = bad
    return out


def check_unique(engine: Engine, is_sqlite: bool) -> dict[str, Any]:
    with engine.connect() as conn:
        if is_sqlite:
            result = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
            return {"integrity_check": "; ".join(result), "ok": result == ["ok"]}
        twice_seq = conn.exec_driver_sql(
            "SELECT count(*) FROM (SELECT channel_key, sequence FROM samples WHERE sequence IS "
            "NOT NULL GROUP BY channel_key, sequence HAVING count(*) > 1) d"
        ).scalar_one()
        twice_ts = conn.exec_driver_sql(
            "SELECT count(*) FROM (SELECT channel_key, ts_us FROM samples "
            "GROUP BY channel_key, ts_us HAVING count(*) > 1) d"
        ).scalar_one()
        invalid = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "WHERE c.relname = 'samples' AND c.relnamespace = current_schema()::regnamespace "
            "AND NOT (i.indisvalid AND i.indisready)"
        ).scalar_one()
        ok = twice_seq == 0 and twice_ts == 0 and invalid == 0
        return {
            "duplicate_sequences": twice_seq,
            "duplicate_times": twice_ts,
            "invalid_indexes": invalid,
            "ok": ok,
        }


def spool_left(data_dir: Path) -> int | None:
    """Entries left in the spool (None: no spool file)."""
    path = data_dir / "spool.db"
    if not path.exists():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM entries").fetchone()[0])
    finally:
        conn.close()


# --- the verdict on a run -------------------------------------------------------------------


@dataclass
class Verdict:
    """All the oracle says of the store at the end of a run."""

    comparison: Comparison
    stored_gaps: list[Row[Any]]
    gap_check: dict[str, Any]  # with --wrap: are the gaps what the simulator overwrote?
    event_counts: Counter[str]
    unique: dict[str, Any]
    rollups: dict[str, int]
    spool_entries: int | None

    @property
    def integrity_ok(self) -> bool:
        return bool(
            self.unique["ok"] and not any(self.rollups.values()) and self.spool_entries == 0
        )


@dataclass(frozen=True)
class SimLog:
    """What the simulator itself logged (benchmarks/crash/simulator.py): when each record its
    ring memory overwrote went (host µs), and which records it served."""

    overwritten: dict[int, dict[int, int]]
    served: dict[int, set[int]]


def check_gaps(
    engine: Engine,
    truth: dict[int, list[Record]],
    stored_gaps: Sequence[Any],
    log: SimLog,
) -> dict[str, Any]:
    """The gaps against the simulator's log, not against the store: a record may be in a gap
    only if the logger had overwritten it when loggerd said so, and none both in a gap and
    stored. (A record still in the memory when loggerd declared it gone would be a loss that
    a gap covers.) Every other record must be stored: compare_samples counts those."""
    in_gap_not_overwritten = in_gap_and_stored = 0
    stored = {a: stored_sequences(engine, a) for a in truth}
    examples: list[dict[str, Any]] = []
    for g in stored_gaps:
        address = int(g.device_id.split("-")[1])
        gone = log.overwritten.get(address, {})
        for sequence in range(g.first_sequence, g.last_sequence + 1):
            went_us = gone.get(sequence)
            if went_us is None or went_us > g.detected_us:
                in_gap_not_overwritten += 1
                if len(examples) < 5:
                    examples.append({"logger": address, "sequence": sequence, "went_us": went_us})
            if sequence in stored[address]:
                in_gap_and_stored += 1
    unread = {a: set(log.overwritten.get(a, {})) - stored[a] for a in truth}
    return {
        "gaps_ok": in_gap_not_overwritten == 0 and in_gap_and_stored == 0,
        "gap_records_not_overwritten": in_gap_not_overwritten,
        "gap_records_also_stored": in_gap_and_stored,
        "gap_examples": examples,
        "overwritten_records": sum(len(o) for o in log.overwritten.values()),
        "unread_records": sum(len(u) for u in unread.values()),
        # served, then lost with a killed loggerd before it was spooled, then overwritten: the
        # gap it leaves is the cost of the kill (no later run could read it)
        "served_then_overwritten_unread": sum(
            len(unread[a] & log.served.get(a, set())) for a in truth
        ),
    }


def judge(
    target: StoreTarget,
    truth: dict[int, list[Record]],
    log: SimLog | None,
    attribute: Attribute,
) -> Verdict:
    """The store against the ground truth and its integrity. With the simulator's `log`
    (--wrap), truth is every record ever taken and records in gaps are not expected, once the
    log shows each of them overwritten before the gap was declared."""
    engine = target.read_only_engine()
    try:
        with engine.connect() as conn:
            stored_gaps = list(conn.execute(select(gaps)).all())
            event_counts = Counter(r.kind for r in conn.execute(select(events.c.kind)))
        in_gaps: dict[int, set[int]] = defaultdict(set)
        for g in stored_gaps:
            in_gaps[int(g.device_id.split("-")[1])].update(
                range(g.first_sequence, g.last_sequence + 1)
            )
        gap_check = check_gaps(engine, truth, stored_gaps, log) if log is not None else {}
        comparison = compare_samples(engine, truth, in_gaps if log is not None else {}, attribute)
        rollups = check_rollups(engine)
        unique = check_unique(engine, target.engine_name == "sqlite")
    finally:
        engine.dispose()
    spool_entries = spool_left(target.data_dir)
    return Verdict(comparison, stored_gaps, gap_check, event_counts, unique, rollups, spool_entries)
