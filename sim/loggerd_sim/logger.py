"""A simulated reference logger: its clock, its measurements, its ring memory and its registers.

Everything the wire sees is built from firmware_protocol/reference_logger.toml; this module
only decides what the values are.
"""

from __future__ import annotations

import math
import struct
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loggerd.processing import humidity
from loggerd_protocol.definition import Definition, Field, Table, reference_logger
from loggerd_protocol.values import Record, Value, decode_field, encode_field, encode_record

from .chamber import Chamber, ChamberState

ILLEGAL_FUNCTION = 1
ILLEGAL_ADDRESS = 2
ILLEGAL_VALUE = 3
DEVICE_BUSY = 6

_DEFN = reference_logger()
# What a clock whose backup battery ran flat reads at power-up: the first time it can be set to.
_CLOCK_RANGE = _DEFN.field("clock").range
assert _CLOCK_RANGE is not None
CLOCK_LOST_UTC_S = int(_CLOCK_RANGE[0])


def _float32(value: float) -> float:
    """The float32 nearest to `value`, as a float (NaN stays NaN)."""
    result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return result


class RegisterError(Exception):
    """A request the logger answers with a Modbus exception code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class SimClock:
    """Simulated seconds since the start: the loggers' true time.

    It runs as fast as the host's clock unless `speed` says otherwise, which only a stress test
    wants (benchmarks/crash: ten records a second from a 1 s interval, clocks that gain on the
    host's). A faster chamber programme is the chamber's own `speed`; the loggers keep time.
    """

    def __init__(
        self,
        speed: float = 1.0,
        start_utc_s: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.speed = speed
        self.start_utc_s = time.time() if start_utc_s is None else start_utc_s
        self._monotonic = monotonic
        self._t0 = monotonic()

    def elapsed_s(self) -> float:
        return (self._monotonic() - self._t0) * self.speed

    def utc_s(self) -> float:
        return self.start_utc_s + self.elapsed_s()


class ManualClock(SimClock):
    """A simulated clock that moves only when told to (for tests and benchmarks)."""

    def __init__(self, start_utc_s: float = 1_780_000_000.0) -> None:
        self._now = 0.0
        super().__init__(1.0, start_utc_s, monotonic=lambda: self._now)

    def advance(self, seconds: float) -> None:
        self._now += seconds


@dataclass
class LoggerSettings:
    address: int = _DEFN.default_address
    serial_number: int = 16000001
    channel_count: int = 8
    calibration_date: int = 20260115
    interval_s: int = 10
    logging: bool = True
    clock_offset_s: float = 0.0  # logger clock minus true time at the start
    clock_drift_ppm: float = 0.0
    clock_set: bool = True
    capacity: int | None = None  # records; the map's capacity when None
    # point name -> "open" | "short": a sensor fault to show on that channel
    sensor_faults: dict[str, str] = field(default_factory=dict)
    # How long after taking each record the logger answers "busy" (exception 06, ERR 4) while
    # it writes the record to flash; the protocol allows up to 20 ms. 0: it never does.
    busy_window_s: float = 0.0


@dataclass(frozen=True)
class Retained:
    """What a logger keeps through a power loss (PROTOCOL.md §12): its records and the next
    sequence number, in flash, and its clock, which runs on the backup battery meanwhile."""

    serial_number: int
    next_sequence: int
    records: tuple[Record, ...]
    clock_ahead_s: float  # the clock's reading minus true UTC at power-off
    clock_set: bool
    off_utc_s: float  # true UTC at power-off

    def as_json(self) -> dict[str, object]:
        """Plain JSON values; a missing value (NaN) as null."""
        names = _DEFN.point_names()
        return {
            "serial_number": self.serial_number,
            "next_sequence": self.next_sequence,
            "clock_ahead_s": self.clock_ahead_s,
            "clock_set": self.clock_set,
            "off_utc_s": self.off_utc_s,
            "records": [
                [
                    r.sequence,
                    r.timestamp,
                    r.status,
                    *(None if math.isnan(v) else v for v in (r.values[n] for n in names)),
                ]
                for r in self.records
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Retained:
        """The inverse of as_json(); KeyError, TypeError or ValueError for anything else."""
        names = _DEFN.point_names()
        records = []
        for row in data["records"]:
            sequence, timestamp, status, *values = row
            if len(values) != len(names):
                raise ValueError(f"record {sequence}: {len(values)} values, not {len(names)}")
            measured = zip(names, values, strict=True)
            records.append(
                Record(
                    int(sequence),
                    int(timestamp),
                    int(status),
                    {n: math.nan if v is None else float(v) for n, v in measured},
                )
            )
        return cls(
            serial_number=int(data["serial_number"]),
            next_sequence=int(data["next_sequence"]),
            records=tuple(records),
            clock_ahead_s=float(data["clock_ahead_s"]),
            clock_set=bool(data["clock_set"]),
            off_utc_s=float(data["off_utc_s"]),
        )


class SimulatedLogger:
    """The logger: measures the chamber, records at its interval into its ring memory."""

    def __init__(
        self,
        chamber: Chamber,
        clock: SimClock,
        settings: LoggerSettings | None = None,
        definition: Definition | None = None,
    ) -> None:
        self.defn = definition or reference_logger()
        self.chamber = chamber
        self.clock = clock
        self.settings = settings or LoggerSettings()
        if not 1 <= self.settings.channel_count <= self.defn.max_temperature_channels:
            raise ValueError(f"channel_count must be 1..{self.defn.max_temperature_channels}")
        capacity = self.settings.capacity
        if capacity is None:
            capacity = self.defn.memory_capacity_records
        elif not 1 <= capacity <= 0xFFFF_FFFF:
            raise ValueError(f"capacity must be 1..4294967295 records, got {capacity}")
        interval_range = self.defn.field("logging_interval").range
        if (
            interval_range
            and not interval_range[0] <= self.settings.interval_s <= interval_range[1]
        ):
            raise ValueError(
                f"interval_s must be {interval_range[0]:g}..{interval_range[1]:g} s, "
                f"got {self.settings.interval_s}"
            )
        if not -1e6 < self.settings.clock_drift_ppm < 1e6:
            raise ValueError(
                f"clock_drift_ppm must be within ±1e6, got {self.settings.clock_drift_ppm}"
            )
        self.memory: deque[Record] = deque(maxlen=capacity)
        self._next_sequence = 1
        self._elapsed = 0.0  # simulated time of the last measurement
        # The logger keeps time by its own oscillator, which runs (1 + drift) times as fast
        # as true time: its "own" seconds. Its clock read `_clock_at_s` when its own time was
        # `_clock_set_own_s`; setting the clock moves that anchor. The logging schedule counts
        # own seconds from the start of logging (PROTOCOL.md §12), so a clock set leaves it be.
        self._clock_set_own_s = 0.0
        self._clock_at_s = self.clock.start_utc_s + self.settings.clock_offset_s
        self._next_record_own_s = 0.0
        self._last_record_own_s: float | None = None
        self.record_pointer = 0
        self.state: ChamberState = chamber.advance_to(0.0)
        self._point_memo: tuple[tuple[object, ...], dict[str, float]] | None = None
        self._fields = {t: {f.name: f for f in self.defn.table(t)} for t in ("input", "holding")}

    # --- time -----------------------------------------------------------------------------

    @property
    def _rate(self) -> float:
        return 1 + self.settings.clock_drift_ppm * 1e-6

    def _own_s(self, elapsed_s: float) -> float:
        return elapsed_s * self._rate

    def logger_time_s(self, elapsed_s: float | None = None) -> float:
        """The logger's clock (UTC epoch s, unrounded) at simulated time `elapsed_s`; by
        default at the last measurement (see sync()), which is what stamps live values."""
        e = self._elapsed if elapsed_s is None else elapsed_s
        return self._clock_at_s + self._own_s(e) - self._clock_set_own_s

    def clock_reading_s(self) -> int:
        """What the clock register and `TIME?` read now: the whole seconds of the logger's
        clock at the precise present, so it ticks when the logger's own clock does."""
        return math.floor(self.logger_time_s(self.clock.elapsed_s()))

    def sync(self) -> None:
        """Bring the logger up to the simulated present: take every record that fell due."""
        now = self.clock.elapsed_s()
        now_own = self._own_s(now)
        while self.settings.logging and self._next_record_own_s <= now_own:
            at_own = self._next_record_own_s
            self._elapsed = max(self._elapsed, at_own / self._rate)
            self.state = self.chamber.advance_to(self._elapsed)
            # Stamped with the clock at that instant of its own time: records an interval
            # apart carry timestamps exactly an interval apart, whatever the drift.
            self._take_record(math.floor(self._clock_at_s + at_own - self._clock_set_own_s))
            self._last_record_own_s = at_own
            self._next_record_own_s = at_own + self.settings.interval_s
        if not self.settings.logging:
            self._next_record_own_s = max(self._next_record_own_s, now_own)
        # Live values: the logger measures once a second.
        self._elapsed = max(self._elapsed, math.floor(now))
        self.state = self.chamber.advance_to(self._elapsed)

    def busy(self) -> bool:
        """Whether the logger is still writing its newest record to flash (after sync())."""
        window_s = self.settings.busy_window_s
        if window_s <= 0 or self._last_record_own_s is None:
            return False
        since_s = self._own_s(self.clock.elapsed_s()) - self._last_record_own_s
        return since_s < window_s - 1e-9  # a retry after the window is never refused

    def _take_record(self, timestamp: int) -> None:
        self.memory.append(
            Record(
                sequence=self._next_sequence,
                timestamp=timestamp,
                status=self.device_status(),
                values=self.point_values(),
            )
        )
        self._next_sequence += 1

    # --- power ----------------------------------------------------------------------------

    def retained(self) -> Retained:
        """What this logger would keep if its power went off now."""
        self.sync()
        true_utc_s = self.clock.utc_s()
        return Retained(
            serial_number=self.settings.serial_number,
            next_sequence=self._next_sequence,
            records=tuple(self.memory),
            clock_ahead_s=self.logger_time_s(self.clock.elapsed_s()) - true_utc_s,
            clock_set=self.settings.clock_set,
            off_utc_s=true_utc_s,
        )

    def resume(self, kept: Retained, *, battery_ok: bool = True) -> None:
        """Power up now with what the logger kept through a power loss (PROTOCOL.md §12):
        its records, and sequence numbers that go on from them; its clock, which kept time
        (gaining its drift) on the battery, or with a flat battery starts again at the
        earliest time it can be set to, `clock_not_set`; logging resumes with a record at
        once. Its settings are this logger's own, as if set at power-up."""
        if kept.serial_number != self.settings.serial_number:
            raise ValueError(
                f"the memory kept is serial number {kept.serial_number}'s, this logger is "
                f"{self.settings.serial_number}"
            )
        self.memory.clear()
        self.memory.extend(kept.records)  # a smaller capacity keeps the newest
        self._next_sequence = kept.next_sequence
        now = self.clock.elapsed_s()
        if battery_ok:
            off_s = max(0.0, self.clock.utc_s() - kept.off_utc_s)
            ahead_s = kept.clock_ahead_s + off_s * (self._rate - 1)
            self._clock_at_s = self.clock.utc_s() + ahead_s
            self.settings.clock_set = kept.clock_set
        else:
            self._clock_at_s = float(CLOCK_LOST_UTC_S)
            self.settings.clock_set = False
        self._clock_set_own_s = self._own_s(now)
        self._next_record_own_s = self._own_s(now)
        self._last_record_own_s = None

    # --- measurements ---------------------------------------------------------------------

    def point_values(self) -> dict[str, float]:
        """Every point's current value; NaN where the channel is faulty or not fitted.

        The logger measures in float32, as its live registers carry the values: a record, a
        `VAL` or a `REC` line is that value rounded (PROTOCOL.md §11.2).

        Computed once per chamber state (a new object at each step of its physics) and set of
        faults: a read asks for every channel's status, and each status looks at every value,
        so without it one read computed the frost point a dozen times (about 9 ms of CPU),
        and a simulator serving many loggers measured itself rather than its master."""
        key = (self.state, self.settings.channel_count, tuple(self.settings.sensor_faults.items()))
        memo = self._point_memo
        if memo is None or memo[0][0] is not key[0] or memo[0][1:] != key[1:]:
            memo = self._point_memo = (key, self._compute_point_values())
        return dict(memo[1])

    def _compute_point_values(self) -> dict[str, float]:
        s = self.state
        values: dict[str, float] = {}
        for i in range(self.defn.max_temperature_channels):
            fitted = i < self.settings.channel_count and i < len(s.channel_temperatures_c)
            values[f"temperature_{i + 1}"] = s.channel_temperatures_c[i] if fitted else math.nan
        values["rh"] = s.rh_pct
        for point in self.settings.sensor_faults:
            values[point] = math.nan
        values = {point: _float32(v) for point, v in values.items()}
        values["frost_point"] = _float32(self._frost_point(values["temperature_1"], values["rh"]))
        return values

    @staticmethod
    def _frost_point(temperature_c: float, rh_pct: float) -> float:
        """Td/f as the logger computes it from channel 1 (its reference probe) and its RH."""
        if math.isnan(temperature_c) or math.isnan(rh_pct):
            return math.nan
        try:
            return float(humidity.frost_dew_point_c(temperature_c, rh_pct))
        except humidity.HumidityRangeError:
            return math.nan  # outside the formulation's range: flagged out_of_range

    def channel_status(self, point: str) -> int:
        bits = self.defn.channel_status_bits
        fault = self.settings.sensor_faults.get(point)
        status = 0
        if fault == "open":
            status |= 1 << bits["open_circuit"]
        elif fault == "short":
            status |= 1 << bits["short_circuit"]
        if (
            point.startswith("temperature_")
            and int(point.split("_")[1]) > self.settings.channel_count
        ):
            status |= 1 << bits["not_fitted"]
        if self._out_of_range(point, self.point_values()):
            status |= 1 << bits["out_of_range"]
        return status

    def _out_of_range(self, point: str, values: dict[str, float]) -> bool:
        """PROTOCOL.md §7.1 bit 2: a reading outside its point's range; for the frost point,
        one that cannot be computed, or is computed from an input out of its range (§13)."""
        if point == "frost_point":
            inputs = ("temperature_1", "rh")
            return math.isnan(values[point]) or any(self._beyond(p, values) for p in inputs)
        return self._beyond(point, values)

    def _beyond(self, point: str, values: dict[str, float]) -> bool:
        low, high = self.defn.point(point).range
        value = values[point]
        return not math.isnan(value) and not low <= value <= high

    def device_status(self) -> int:
        bits = self.defn.device_status_bits
        status = 0
        if self.settings.logging:
            status |= 1 << bits["logging_on"]
        if self.memory.maxlen is not None and self._next_sequence - 1 > self.memory.maxlen:
            status |= 1 << bits["memory_wrapped"]
        if not self.settings.clock_set:
            status |= 1 << bits["clock_not_set"]
        if self.settings.sensor_faults:
            status |= 1 << bits["sensor_fault"]
        return status

    # --- registers ------------------------------------------------------------------------

    def _field_values(self) -> dict[str, Value]:
        defn = self.defn
        values: dict[str, Value] = {
            "model_code": defn.model_code,
            "firmware_version": defn.firmware_version,
            "serial_number": self.settings.serial_number,
            "channel_count": self.settings.channel_count,
            "calibration_date": self.settings.calibration_date,
            "model_name": defn.model,
            "measurement_time": math.floor(self.logger_time_s()),
            "device_status": self.device_status(),
            "oldest_sequence": self.memory[0].sequence if self.memory else 0,
            "newest_sequence": self.memory[-1].sequence if self.memory else 0,
            "record_capacity": self.memory.maxlen or 0,
            "record_pointer": self.record_pointer,
            "clock": self.clock_reading_s(),
            "logging_interval": self.settings.interval_s,
            "logging_control": int(self.settings.logging),
        }
        values.update(self.point_values())
        for point in defn.point_names():
            values[defn.status_field(point).name] = self.channel_status(point)
        return values

    def _window_record(self, index: int) -> Record | None:
        if not self.memory:
            return None
        offset = self.record_pointer + index - self.memory[0].sequence
        return self.memory[offset] if 0 <= offset < len(self.memory) else None

    def _check_range(self, table: Table, address: int, count: int) -> list[Field]:
        """Fields touched by the range; raise exception 02 for an illegal range."""
        if self.defn.block_for(table, address, count) is None:
            raise RegisterError(
                ILLEGAL_ADDRESS, f"{table} registers 0x{address:04X}+{count} are not in one block"
            )
        end = address + count
        touched = [f for f in self._fields[table].values() if f.address < end and f.end > address]
        for f in touched:
            if f.address < address or f.end > end:
                raise RegisterError(ILLEGAL_ADDRESS, f"the range splits {f.name}")
        return touched

    def read_registers(self, table: Table, address: int, count: int) -> tuple[int, ...]:
        if not 1 <= count <= self.defn.max_registers_per_read:
            raise RegisterError(ILLEGAL_VALUE, f"count {count} outside 1..125")
        touched = self._check_range(table, address, count)
        self._sync_unless_busy()
        values = self._field_values()
        words = [0] * count
        for f in touched:
            if f.type == "record":
                index = int(f.name.rsplit("_", 1)[1]) - 1
                encoded = encode_record(self.defn, self._window_record(index))
            else:
                encoded = encode_field(f, values[f.name])
            words[f.address - address : f.end - address] = encoded
        return tuple(words)

    def write_registers(self, address: int, words: tuple[int, ...]) -> None:
        if not 1 <= len(words) <= self.defn.max_registers_per_write:
            raise RegisterError(ILLEGAL_VALUE, f"count {len(words)} outside 1..123")
        touched = self._check_range("holding", address, len(words))
        covered = sum(f.words for f in touched)
        if covered != len(words) or any(not f.writable for f in touched):
            raise RegisterError(
                ILLEGAL_ADDRESS, "the range includes reserved or read-only registers"
            )
        self._sync_unless_busy()
        decoded: Mapping[str, Value] = {
            f.name: decode_field(f, words[f.address - address : f.end - address]) for f in touched
        }
        for f in touched:  # validate everything before changing anything
            self._validate(f, decoded[f.name])
        for name, value in decoded.items():
            self._apply(name, int(value))

    def write_setting(self, name: str, value: int) -> None:
        """Set one writable setting by value (`clock`, `logging_interval`, `logging_control`).

        The same checks and effects as writing its holding registers, for front ends that
        speak values rather than registers (the ASCII command protocol). Raises RegisterError.
        """
        f = self._fields["holding"].get(name)
        if f is None or not f.writable:
            raise RegisterError(ILLEGAL_ADDRESS, f"{name!r} is not a writable setting")
        self._sync_unless_busy()
        self._validate(f, value)
        self._apply(name, value)

    def _sync_unless_busy(self) -> None:
        """Come up to the present; a request that passed the checks of function, count and
        address is refused with exception 06 while the logger writes a record (§8 step 4)."""
        self.sync()
        if self.busy():
            raise RegisterError(DEVICE_BUSY, "writing a record to flash")

    def _validate(self, f: Field, value: Value) -> None:
        v = float(value)
        if f.range is not None and not f.range[0] <= v <= f.range[1]:
            raise RegisterError(ILLEGAL_VALUE, f"{f.name}={value} outside {f.range}")
        if f.name == "record_pointer":
            oldest = self.memory[0].sequence if self.memory else 0
            newest = self.memory[-1].sequence if self.memory else 0
            if not self.memory or not oldest <= v <= newest:
                raise RegisterError(
                    ILLEGAL_VALUE, f"record pointer {value} outside [{oldest}, {newest}]"
                )

    def _apply(self, name: str, value: int) -> None:
        if name == "record_pointer":
            self.record_pointer = value
        elif name == "clock":
            # The value written is exact at the moment of the write: the clock reads it now
            # and ticks one second (of its own, drifting time) later.
            self._clock_set_own_s = self._own_s(self.clock.elapsed_s())
            self._clock_at_s = float(value)
            self.settings.clock_set = True
        elif name == "logging_interval":
            self.settings.interval_s = value
            self._next_record_own_s = self._own_s(self.clock.elapsed_s()) + value
        elif name == "logging_control":
            if value and not self.settings.logging:
                self._next_record_own_s = self._own_s(self.clock.elapsed_s())
            self.settings.logging = bool(value)
