"""What a spool entry's payload is: samples (a SampleBatch's bytes), or log items (events, gaps,
clock checks) as JSON.

The spool keeps payloads opaque; this is the one place that turns a batch into bytes and back,
for the writer that appends and drains, and for tools that read a spool left behind
(`loggerd stop` tests read one). Not pickle: a spool written by one version of loggerd can be
read by the next. Samples were JSON too, until their encoding and decoding (a Sample and two
enum lookups per sample) cost more than writing them to the store; a spool of JSON samples
left by an earlier loggerd is still read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from loggerd.core.events import ClockCheck, Event, EventKind, Gap, Severity
from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.storage.sample_batch import MAGIC, SampleBatch

__all__ = ["LOG", "SAMPLES", "decode", "decode_samples", "encode"]

# An entry's kind, as the spool stores it.
SAMPLES = "samples"
LOG = "log"


def encode(kind: str, items: Sequence[Any] | SampleBatch) -> bytes:
    """Samples (kind SAMPLES: Samples or a SampleBatch) or log items (kind LOG) as one
    payload."""
    if kind == SAMPLES:
        batch = items if isinstance(items, SampleBatch) else SampleBatch.from_samples(items)
        return batch.to_bytes()
    rows = [[type(i).__name__, asdict(i)] for i in items]
    return json.dumps(rows, separators=(",", ":")).encode()


def decode_samples(payload: bytes) -> SampleBatch:
    """The samples of a payload, as columns (what the writer writes from)."""
    if payload.startswith(MAGIC):
        return SampleBatch.from_bytes(payload)
    return SampleBatch.from_samples(_json_samples(payload))  # an earlier loggerd's spool


def _json_samples(payload: bytes) -> list[Sample]:
    return [
        Sample(c, ch, ts, v, raw, Quality(q), TimeSource(src), seq, cal, u, m, off)
        for c, ch, ts, v, raw, q, src, seq, cal, u, m, off in json.loads(payload)
    ]


def decode(kind: str, payload: bytes) -> list[Any]:
    """The samples (as Samples) or log items of a payload that encode() made."""
    if kind == SAMPLES:
        return decode_samples(payload).samples()
    rows = json.loads(payload)
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
