"""A line quarantined as a whole: when no device on a shared line answers (a cut cable, an
adapter or a gateway without power), its devices stop sending and one probe at a time asks
whether the line is back, instead of every device timing out on its own.

The pollers of one line's devices share its LineGate (Acquisition makes one per line of two
or more devices; a line of one device is that device, and its own quarantine is the line's).
The rule, as docs/serial-lines.md gives it:

- A device is *silent* when its latest poll got no reply at all (a LinkError: a timeout, a
  port that cannot be opened, a dropped connection). A reply of any kind, even one that cannot
  be used (a bad CRC, an exception), shows that the line carries, and ends its silence.
- The line is quarantined when one of its devices reaches its own quarantine threshold
  (`quarantine_after` failed polls in a row) while every device on the line is silent: no
  device on it has answered since the line's failures began. The line is quarantined in that
  device's place, for the line's back-off period.
- While it is quarantined no device on it sends anything. When the period is over, the next
  device in turn (round robin, in configuration order) sends one poll, the probe. A reply
  (to the probe, or to a request that was already under way) ends the quarantine, and every
  device polls again at its next tick; no reply starts the next, longer, period.

Calls come from the pollers on the event loop, one at a time: no lock.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Sequence

from loggerd.core.backoff import Backoff
from loggerd.core.health import LineHealth
from loggerd.core.times import utc_now_us

log = logging.getLogger(__name__)


class Turn(enum.Enum):
    """What a device may do at its tick, as its line's state allows."""

    POLL = "poll"  # the line is up: poll (the device's own quarantine still applies)
    PROBE = "probe"  # the line is quarantined and its period is over: this poll is the probe
    HOLD = "hold"  # the line is quarantined: send nothing


class LineGate:
    """Whether the devices of one shared line may send, and the line's health."""

    def __init__(
        self,
        name: str,
        devices: Sequence[str],
        backoff: Backoff,
        now_us: Callable[[], int] = utc_now_us,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(devices) < 2:
            raise ValueError(f"line {name}: a line of one device is quarantined as that device")
        self.name = name
        self.devices = tuple(devices)
        self.health = LineHealth(name, list(devices))
        self._backoff = backoff
        self._now_us = now_us
        self._monotonic = monotonic
        self._silent: set[str] = set()  # devices whose latest poll got no reply
        self._until = 0.0  # the end of the quarantine period, on the monotonic clock
        self._down_since = 0.0
        self._next_probe = 0  # index in devices: who sends the next probe
        self._probing: str | None = None  # the device whose probe is under way

    @property
    def quarantined(self) -> bool:
        return self.health.quarantined

    def held(self) -> str | None:
        """Why nothing but probes may go out on the line now (None: the line is up). Asked by
        the line's thread before each request other than a live poll (see LineWorker.held):
        a memory window or clock read queued before the verdict is answered, never sent.
        It reads one flag the loop sets."""
        if not self.health.quarantined:
            return None
        return f"line {self.name} is quarantined: no device on it answers"

    def turn(self, device: str) -> Turn:
        """At `device`'s tick: may it poll? Granting the probe hands it the line's one request."""
        if not self.health.quarantined:
            return Turn.POLL
        if (
            self._probing is None
            and self._monotonic() >= self._until
            and device == self.devices[self._next_probe]
        ):
            self._probing = device
            self._next_probe = (self._next_probe + 1) % len(self.devices)
            return Turn.PROBE
        return Turn.HOLD

    def answered(self, device: str) -> None:
        """A reply came from `device` (whether or not it could be used): the line carries."""
        self._silent.discard(device)
        if self._probing == device:
            self._probing = None
        h = self.health
        if not h.quarantined:
            return
        h.quarantined = False
        h.quarantine_until_utc_us = None
        self._probing = None
        self._backoff.reset()
        log.info(
            "line %s: %s answered; the line is back after %.0f s, its %d devices are polled again",
            self.name,
            device,
            self._monotonic() - self._down_since,
            len(self.devices),
        )

    def silent(self, device: str, error: str, give_up: bool) -> bool:
        """`device`'s poll got no reply (`error` says how); `give_up`: it has failed as many
        polls in a row as its quarantine threshold. True when the line is quarantined (just
        now, or already): the device is then left alone with its line, not on its own."""
        self._silent.add(device)
        h = self.health
        if h.quarantined:
            if self._probing == device:
                self._probing = None
                backoff_s = self._quarantine()
                log.info(
                    "line %s: no reply to the probe of %s either; quarantined for %.0f s more",
                    self.name,
                    device,
                    backoff_s,
                )
            return True
        if not give_up or not self._silent.issuperset(self.devices):
            return False
        h.quarantined = True
        self._down_since = self._monotonic()
        # The device that gave up has just been tried: the next one probes first.
        self._next_probe = (self.devices.index(device) + 1) % len(self.devices)
        backoff_s = self._quarantine()
        log.warning(
            "line %s (%d devices): no device answered (the last, %s: %s); quarantined for "
            "%.0f s, then probed through one device at a time; check the cable, the adapter "
            "and the devices' power",
            self.name,
            len(self.devices),
            device,
            error,
            backoff_s,
        )
        return True

    def _quarantine(self) -> float:
        """Start a back-off period; its length (s)."""
        backoff_s = self._backoff.next()
        self._until = self._monotonic() + backoff_s
        self.health.quarantine_until_utc_us = self._now_us() + round(backoff_s * 1e6)
        self.health.quarantines += 1
        return backoff_s
