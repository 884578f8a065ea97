"""One thread per notification target, sending what the alarm log holds for it.

The log is the outbox: each target keeps the number of the last action it delivered, in the
store, so a receiver that is down for an hour, or a loggerd restarted meanwhile, loses nothing
and sends nothing twice (a delivery cut between the send and its record may be sent again: at
least once, as webhooks and MQTT QoS 1 are). Nothing here runs on the acquisition's loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from loggerd.core.alarms import Notice
from loggerd.core.backoff import Backoff
from loggerd.core.times import utc_now_us

log = logging.getLogger(__name__)

IDLE_S = 5.0  # looks at the log this often with no poke (an alarm acknowledged elsewhere)


class Outbox(Protocol):
    def register(self, target: str, now_us: int) -> None: ...

    def pending(self, target: str, limit: int = 100) -> list[Notice]: ...

    def delivered(self, target: str, seq: int, now_us: int) -> None: ...


class Target(Protocol):
    @property
    def name(self) -> str:
        """Unique, stable across restarts: the key of its place in the log."""

    def send(self, notice: Notice) -> None:
        """Deliver, or raise saying why not."""

    def close(self) -> None: ...


@dataclass
class SenderHealth:
    delivered: int = 0
    failures: int = 0
    last_error: str | None = None
    retry_in_s: float | None = None


class Sender:
    def __init__(
        self,
        outbox: Outbox,
        target: Target,
        backoff: Backoff | None = None,
        now_us: Callable[[], int] = utc_now_us,
    ) -> None:
        self.outbox = outbox
        self.target = target
        self.backoff = backoff or Backoff(1.0, 60.0)
        self.now_us = now_us
        self.health = SenderHealth()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.outbox.register(self.target.name, self.now_us())
        self._thread = threading.Thread(
            target=self._run, name=f"loggerd-notify-{self.target.name[:40]}", daemon=True
        )
        self._thread.start()

    def poke(self) -> None:
        """New actions were stored: look now rather than at the next idle tick."""
        self._wake.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.target.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            wait_s = IDLE_S if self._send_pending() else self._failed_wait()
            self._wake.wait(wait_s)
            self._wake.clear()

    def _failed_wait(self) -> float:
        delay = self.backoff.next()
        self.health.retry_in_s = delay
        return delay

    def _send_pending(self) -> bool:
        """Send what is pending; False when a send (or the log) failed."""
        try:
            while not self._stop.is_set():
                notices = self.outbox.pending(self.target.name)
                if not notices:
                    return True
                for notice in notices:
                    self.target.send(notice)
                    self.outbox.delivered(self.target.name, notice.seq, self.now_us())
                    self.health.delivered += 1
                    self.backoff.reset()
                    self.health.last_error = self.health.retry_in_s = None
            return True
        except Exception as exc:  # a receiver down, a store down: retried, said once per state
            text = f"{self.target.name}: {exc}"
            if self.health.last_error != text:
                log.warning("alarm notification not delivered, retrying: %s", text)
            self.health.failures += 1
            self.health.last_error = text
            return False
