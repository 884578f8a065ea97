"""What a spool entry's payload is: samples, or log items (events, gaps, clock checks), as JSON.

The spool keeps payloads opaque; this is the one place that turns a batch into bytes and back,
for the writer that appends and drains, and for tools that read a spool left behind
(`loggerd stop` tests read one). JSON, not pickle: a spool written by one version of loggerd can
be read by the next, and its contents can be inspected by hand.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from loggerd.core.events import ClockCheck, Event, EventKind, Gap, Severity
from loggerd.core.samples import Quality, Sample, TimeSource

__all__ = ["LOG", "SAMPLES", "decode", "encode"]

# An entry's kind, as the spool stores it.
SAMPLES = "samples"
LOG = "log"


def encode(kind: str, items: Sequence[Any]) -> bytes:
    """Samples (kind SAMPLES) or log items (kind LOG) as one payload."""
    if kind == SAMPLES:
        rows: list[Any] = [
            [
                s.chamber_id,
                s.channel_id,
                s.timestamp_us,
                s.value,
                s.raw_value,
                str(s.quality),
                str(s.time_source),
                s.sequence,
                s.calibration_version,
                s.uncertainty,
                s.method,
                s.clock_offset_us,
            ]
            for s in items
        ]
    else:
        rows = [[type(i).__name__, asdict(i)] for i in items]
    return json.dumps(rows, separators=(",", ":")).encode()


def decode(kind: str, payload: bytes) -> list[Any]:
    """The samples or log items of a payload that encode() made."""
    rows = json.loads(payload)
    if kind == SAMPLES:
        return [
            Sample(c, ch, ts, v, raw, Quality(q), TimeSource(src), seq, cal, u, m, off)
            for c, ch, ts, v, raw, q, src, seq, cal, u, m, off in rows
        ]
    out: list[Any] = []
    for name, fields in rows:
        if name == "Event":
            fields["kind"] = EventKind(fields["kind"])
            fields["severity"] = Severity(fields["severity"])
            out.append(Event(**fields))
        elif name == "Gap":
            out.append(Gap(**fields))
        else:
            out.append(ClockCheck(**fields))
    return out
