"""Seeded fault injection for the simulator's wire, and the ground truth of what it answered."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

Fault = Literal["crc", "drop", "late", "garbage", "busy", "reboot"]
FAULTS: tuple[Fault, ...] = ("crc", "drop", "late", "garbage", "busy", "reboot")


@dataclass(frozen=True)
class FaultRates:
    """Probability of each fault per request answered (0 … 1); at most one fault a request."""

    crc: float = 0.0  # a reply whose CRC is wrong (one byte flipped)
    drop: float = 0.0  # no reply at all
    late: float = 0.0  # the reply comes `late_delay_s` after it was due
    garbage: float = 0.0  # random bytes on the line before the reply
    busy: float = 0.0  # exception 06 instead of the data: the request is not executed
    reboot: float = 0.0  # the device restarts: silent for `reboot_s`
    late_delay_s: float = 0.6
    reboot_s: float = 2.0

    @classmethod
    def parse(cls, text: str) -> FaultRates:
        """From 'crc=0.05,drop=0.02,late=0.01' (the CLI's --faults)."""
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            if not sep or name not in {*FAULTS, "late_delay_s", "reboot_s"}:
                raise ValueError(
                    f"--faults: {part!r} is not NAME=RATE with NAME one of {', '.join(FAULTS)}, "
                    "late_delay_s, reboot_s"
                )
            values[name] = float(value)
        rates = cls(**values)
        total = sum(getattr(rates, f) for f in FAULTS)
        if total > 1 or any(getattr(rates, f) < 0 for f in FAULTS):
            raise ValueError(f"--faults: rates must be >= 0 and add up to at most 1 (got {total})")
        return rates


@dataclass(frozen=True)
class Answer:
    """One request the simulator answered (or chose not to): the ground truth."""

    at_s: float  # host monotonic time the reply was due
    unit: int
    request_pdu: bytes
    response_pdu: bytes  # what the device meant to answer, before any fault
    fault: Fault | None


@dataclass
class FaultPlan:
    """Draws faults from a seeded generator and records every answer."""

    rates: FaultRates = field(default_factory=FaultRates)
    seed: int = 0
    record: bool = True
    answers: list[Answer] = field(default_factory=list)
    # Faults to apply, in order, before any random draw (None: answer normally): for tests
    # that need one particular sequence.
    script: list[Fault | None] = field(default_factory=list)
    # The same for writes (functions 06 and 16) alone, and for the requests that follow the
    # next write answered without a fault: to hit exactly a write, or exactly the read-back
    # after it, however many requests came before.
    writes: list[Fault | None] = field(default_factory=list)
    after_write: list[Fault | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._silent_until: dict[int, float] = {}
        self._following_write: list[Fault | None] = []

    def draw(self, unit: int, request_pdu: bytes = b"") -> Fault | None:
        """The fault for one request to `unit` (None: answer it normally)."""
        with self._lock:
            if time.monotonic() < self._silent_until.get(unit, 0.0):
                return "drop"  # still rebooting
            write = request_pdu[:1] in (b"\x06", b"\x10")
            if write and self.writes:
                fault = self._scripted(unit, self.writes)
            elif not write and self._following_write:
                fault = self._scripted(unit, self._following_write)
            elif self.script:
                fault = self._scripted(unit, self.script)
            else:
                fault = self._random(unit)
            if write and fault is None and self.after_write:
                self._following_write, self.after_write = self.after_write, []
            return fault

    def _scripted(self, unit: int, faults: list[Fault | None]) -> Fault | None:
        fault = faults.pop(0)
        if fault == "reboot":
            self._silent_until[unit] = time.monotonic() + self.rates.reboot_s
        return fault

    def _random(self, unit: int) -> Fault | None:
        x = self._rng.random()
        for name in FAULTS:
            rate: float = getattr(self.rates, name)
            if x < rate:
                if name == "reboot":
                    self._silent_until[unit] = time.monotonic() + self.rates.reboot_s
                return name
            x -= rate
        return None

    def garbage(self) -> bytes:
        with self._lock:
            return bytes(self._rng.randrange(256) for _ in range(self._rng.randint(1, 8)))

    def corrupt(self, frame: bytes) -> bytes:
        with self._lock:
            i = self._rng.randrange(len(frame))
            return frame[:i] + bytes([frame[i] ^ (1 << self._rng.randrange(8))]) + frame[i + 1 :]

    def log(self, answer: Answer) -> None:
        if self.record:
            with self._lock:
                self.answers.append(answer)
