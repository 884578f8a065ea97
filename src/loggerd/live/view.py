"""The live view of the chambers this process polls: every channel's recent window (the ring)
and its newest sample whole (with what the ring does not keep: uncertainty, method, …)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from loggerd.core.channels import Channel
from loggerd.core.samples import Sample
from loggerd.live.ring import RingBuffer


@dataclass(frozen=True)
class LiveReading:
    """A channel's newest reading (None before the first one)."""

    channel: Channel
    sample: Sample | None


def _f32(x: np.float32) -> float:
    """A float32 from the ring as the decimal it was (the shortest repr that round-trips)."""
    return math.nan if math.isnan(x) else float(str(x))


class LiveView:
    """Fed with live reads (never with records from a logger's memory: stamped by a clock
    that may have been stepped since, they must not hold the view back)."""

    def __init__(self, ring_size: int) -> None:
        self.ring = RingBuffer(ring_size)
        self._channels: dict[str, list[Channel]] = {}
        self._newest: dict[tuple[str, str], Sample] = {}

    def add_channel(self, channel: Channel) -> None:
        self._channels.setdefault(channel.chamber_id, []).append(channel)
        self.ring.add_channel(channel.chamber_id, channel.channel_id)

    def accept(self, samples: list[Sample]) -> None:
        for s in samples:
            key = (s.chamber_id, s.channel_id)
            newest = self._newest.get(key)
            if newest is None or s.timestamp_us >= newest.timestamp_us:
                self._newest[key] = s
            self.ring.append(s)

    def latest(self, chamber_id: str) -> list[LiveReading] | None:
        """Each channel's newest reading; None for a chamber this process does not poll."""
        if chamber_id not in self._channels:
            return None
        return [self._latest(c) for c in self._channels[chamber_id]]

    def _latest(self, channel: Channel) -> LiveReading:
        w = self.ring.channel(channel.chamber_id, channel.channel_id).latest()
        if len(w) == 0:
            return LiveReading(channel, None)
        ts = int(w.timestamp_us[0])
        newest = self._newest.get((channel.chamber_id, channel.channel_id))
        if newest is not None and newest.timestamp_us == ts:
            return LiveReading(channel, newest)
        # The ring's latest is older than the newest sample seen (a sample out of order):
        # what the ring keeps of it, without what it does not keep.
        ring_sample = Sample(
            channel.chamber_id,
            channel.channel_id,
            ts,
            _f32(w.value[0]),
            _f32(w.raw_value[0]),
            w.quality[0],
            w.time_source[0],
        )
        return LiveReading(channel, ring_sample)
