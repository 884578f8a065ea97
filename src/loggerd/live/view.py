"""The live view of the chambers acquisition polls: every channel's recent window (its ring) and
its newest sample whole (with what the ring does not keep: uncertainty, method, …).

It lives in memory shared between processes (live/memory.py): acquisition writes it, and the
API, in a process of its own, maps it read-only through a LiveHandle. Readers never lock (see
live/ring.py), so no reader, however slow or however dead, can hold a poll up.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from loggerd.core.channels import Channel
from loggerd.core.samples import Sample
from loggerd.live.memory import SharedBlock
from loggerd.live.ring import (
    NEWEST,
    NO_TIME,
    STATE_WORDS,
    ChannelRing,
    RingArrays,
    flags_of,
    quality_of,
    read_consistent,
    time_source_of,
)

METHOD_BYTES = 64  # a derived value's formulation name, UTF-8

# Each channel's newest sample whole. `seq` is odd while the row is written (see ring.py);
# optional fields hold their "none" as NaN or NO_TIME.
NEWEST_ROW = np.dtype(
    [
        ("seq", "<i8"),
        ("timestamp_us", "<i8"),
        ("value", "<f8"),
        ("raw_value", "<f8"),
        ("sequence", "<i8"),
        ("calibration_version", "<i8"),
        ("uncertainty", "<f8"),
        ("clock_offset_us", "<i8"),
        ("flags", "u1"),
        ("method", f"S{METHOD_BYTES}"),
    ]
)
# The row as struct packs it (numpy's layout of NEWEST_ROW: packed, little-endian): seq, then
# the rest. The writer packs a row in one call where a numpy row assignment took microseconds.
_SEQ = struct.Struct("<q")
_TIMESTAMP = struct.Struct("<q")
_REST = struct.Struct("<qddqqdqB64s")
assert _SEQ.size + _REST.size == NEWEST_ROW.itemsize
_ALIGN = 64


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


@dataclass(frozen=True)
class LiveReading:
    """A channel's newest reading (None before the first one)."""

    channel: Channel
    sample: Sample | None


@dataclass(frozen=True)
class LiveLayout:
    """Where each array sits in the block: fixed by the channels and the ring size alone, so a
    reader handed the same two finds what the writer put there."""

    channels: tuple[Channel, ...]
    ring_size: int

    def _parts(self) -> list[tuple[str, np.dtype[np.generic], tuple[int, ...]]]:
        n, size = len(self.channels), self.ring_size
        return [
            ("state", np.dtype(np.int64), (n, STATE_WORDS)),
            ("newest", NEWEST_ROW, (n,)),
            ("timestamp_us", np.dtype(np.int64), (n, size)),
            ("value", np.dtype(np.float32), (n, size)),
            ("raw_value", np.dtype(np.float32), (n, size)),
            ("flags", np.dtype(np.uint8), (n, size)),
        ]

    @property
    def nbytes(self) -> int:
        return sum(_aligned(d.itemsize * math.prod(shape)) for _, d, shape in self._parts())

    def arrays(self, block: SharedBlock) -> dict[str, np.ndarray]:
        views: dict[str, np.ndarray] = {}
        offset = 0
        for name, dtype, shape in self._parts():
            count = math.prod(shape)
            view = np.frombuffer(block.buffer, dtype, count, offset).reshape(shape)
            views[name] = view
            offset += _aligned(dtype.itemsize * count)
        return views


@dataclass(frozen=True)
class LiveHandle:
    """What a process needs to map the live view: picklable, the block's descriptor is handed
    over as one (see api_worker)."""

    layout: LiveLayout
    fd: int


class LiveView:
    """Fed with live reads (never with records from a logger's memory: stamped by a clock that
    may have been stepped since, they must not hold the view back)."""

    def __init__(self, layout: LiveLayout, block: SharedBlock) -> None:
        self.layout = layout
        self.block = block
        arrays = layout.arrays(block)
        self._newest = arrays["newest"]
        self._newest_bytes = self._newest.data.cast("B")
        self._index: dict[tuple[str, str], int] = {}
        self._chambers: dict[str, list[tuple[Channel, int]]] = {}
        self._rings: list[ChannelRing] = []
        for i, channel in enumerate(layout.channels):
            key = (channel.chamber_id, channel.channel_id)
            self._index[key] = i
            self._chambers.setdefault(channel.chamber_id, []).append((channel, i))
            self._rings.append(
                ChannelRing(
                    layout.ring_size,
                    RingArrays(
                        arrays["timestamp_us"][i],
                        arrays["value"][i],
                        arrays["raw_value"][i],
                        arrays["flags"][i],
                        arrays["state"][i],
                    ),
                )
            )

    @classmethod
    def create(cls, channels: Sequence[Channel], ring_size: int) -> LiveView:
        """A new live view, written by this process."""
        layout = LiveLayout(tuple(channels), ring_size)
        view = cls(layout, SharedBlock.create(layout.nbytes, "live view"))
        view._newest["timestamp_us"] = NO_TIME
        view._newest["seq"] = 0
        for ring in view._rings:
            ring._state[NEWEST] = NO_TIME
        return view

    @classmethod
    def attach(cls, handle: LiveHandle) -> LiveView:
        """The live view another process writes, mapped read-only."""
        return cls(handle.layout, SharedBlock.attach(handle.fd, handle.layout.nbytes))

    def handle(self) -> LiveHandle:
        return LiveHandle(self.layout, self.block.fd)

    def close(self) -> None:
        self._rings.clear()
        del self._newest
        self.block.close()

    def ring(self, chamber_id: str, channel_id: str) -> ChannelRing:
        return self._rings[self._index[(chamber_id, channel_id)]]

    def accept(self, samples: list[Sample]) -> None:
        index, rings, rows = self._index, self._rings, self._newest_bytes
        size = NEWEST_ROW.itemsize
        for s in samples:
            i = index.get((s.chamber_id, s.channel_id))
            if i is None:
                continue  # not a configured channel: nothing of it is live
            if s.timestamp_us >= _TIMESTAMP.unpack_from(rows, i * size + _SEQ.size)[0]:
                self._write_newest(i, s)
            rings[i].append(s)

    def _write_newest(self, i: int, s: Sample) -> None:
        rows, at = self._newest_bytes, i * NEWEST_ROW.itemsize
        seq = _SEQ.unpack_from(rows, at)[0]
        _SEQ.pack_into(rows, at, seq + 1)  # odd: being written
        _REST.pack_into(
            rows,
            at + _SEQ.size,
            s.timestamp_us,
            s.value,
            s.raw_value,
            NO_TIME if s.sequence is None else s.sequence,
            NO_TIME if s.calibration_version is None else s.calibration_version,
            math.nan if s.uncertainty is None else s.uncertainty,
            NO_TIME if s.clock_offset_us is None else s.clock_offset_us,
            flags_of(s.quality, s.time_source),
            (s.method or "").encode()[:METHOD_BYTES],
        )
        _SEQ.pack_into(rows, at, seq + 2)

    def latest(self, chamber_id: str) -> list[LiveReading] | None:
        """Each channel's newest reading; None for a chamber this process does not poll."""
        channels = self._chambers.get(chamber_id)
        if channels is None:
            return None
        return [LiveReading(channel, self._read_newest(i)) for channel, i in channels]

    def _read_newest(self, i: int) -> Sample | None:
        rows = self._newest
        row = read_consistent(rows["seq"][i : i + 1], lambda: rows[i].copy())
        if row["timestamp_us"] == NO_TIME:
            return None
        channel = self.layout.channels[i]
        flags = int(row["flags"])

        def optional(name: str) -> int | None:
            v = int(row[name])
            return None if v == NO_TIME else v

        uncertainty = float(row["uncertainty"])
        method = bytes(row["method"]).decode()
        return Sample(
            channel.chamber_id,
            channel.channel_id,
            int(row["timestamp_us"]),
            float(row["value"]),
            float(row["raw_value"]),
            quality_of(flags),
            time_source_of(flags),
            sequence=optional("sequence"),
            calibration_version=optional("calibration_version"),
            uncertainty=None if math.isnan(uncertainty) else uncertainty,
            method=method or None,
            clock_offset_us=optional("clock_offset_us"),
        )
