"""A chamber channel: what it measures, in which unit, and which device point feeds it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Channel:
    """One channel of a chamber, as acquisition feeds it and the store catalogues it."""

    chamber_id: str
    channel_id: str
    device_id: str  # for a derived channel, the pseudo-device that computes it
    point: str  # the device point that feeds it (a derived channel: its quantity)
    quantity: str
    unit: str
    name: str | None = None
