"""Driver for the reference logger (RL-1600) over Modbus RTU (any pyserial URL) or Modbus TCP."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from loggerd.core.samples import Reading
from loggerd.drivers.base import (
    DeviceInfo,
    DriverConfig,
    LoggedRecord,
    MemoryDriver,
    MemoryRange,
    PointInfo,
    retry_busy,
)
from loggerd.drivers.modbus_config import ModbusDeviceConfig, opening
from loggerd.link.lines import LinePool
from loggerd.modbus.lines import modbus_master
from loggerd_protocol import modbus as mb
from loggerd_protocol.definition import Definition
from loggerd_protocol.values import (
    BlockDecoder,
    decode_block,
    decode_field,
    decode_record,
    encode_field,
)

from .rl1600 import CLOCK_RANGE_S, readings
from .rl1600 import DEFN as _DEFN


class ReferenceModbusConfig(ModbusDeviceConfig):
    """The reference logger needs nothing beyond its line and address."""


def _block_span(defn: Definition, names: Sequence[str]) -> tuple[int, int]:
    fields = [defn.field(n) for n in names]
    start = min(f.address for f in fields)
    return start, max(f.end for f in fields) - start


# The live block (every point, its status word, the device status): one read per poll, its
# fields found and its struct built once.
_LIVE_SPAN = _block_span(
    _DEFN,
    [
        *_DEFN.point_names(),
        "device_status",
        *(_DEFN.status_field(p).name for p in _DEFN.point_names()),
    ],
)
_LIVE = BlockDecoder(_DEFN.table("input"), *_LIVE_SPAN)
_STATUS_OF = [(p, _DEFN.status_field(p).name) for p in _DEFN.point_names()]


class ReferenceModbusDriver(MemoryDriver):
    """The RL-1600 on Modbus. Its memory is read through the record window (§11.3): a write of
    the record pointer, then a read of the window. The pointer is the logger's own state, apart
    from the live registers, so a live read by another thread between the two is harmless; two
    threads reading records of one logger at once would move each other's pointer, and
    read_records then returns what it could check (see there)."""

    config_model = ReferenceModbusConfig
    config: ReferenceModbusConfig
    clock_range_s = CLOCK_RANGE_S

    def __init__(self, config: ReferenceModbusConfig, lines: LinePool) -> None:
        super().__init__(config, lines)
        self.master = modbus_master(self.lines, config.url, config.line_settings())
        self._live_start, self._live_count = _LIVE_SPAN
        self._channel_count: int | None = None  # channels fitted, from the identity

    @property
    def description(self) -> str:
        return f"RL-1600 address {self.config.address} on {self.master.description}"

    @classmethod
    def points_for(cls, config: DriverConfig) -> Sequence[PointInfo]:
        return [PointInfo(p.name, p.quantity, p.unit) for p in _DEFN.points]

    def _read_input(self, address: int, count: int) -> tuple[int, ...]:
        return self.master.read_registers(
            self.config.address, mb.READ_INPUT, address, count, self.config.timeout_s
        )

    def open(self) -> DeviceInfo:
        names = [
            "model_code",
            "firmware_version",
            "serial_number",
            "channel_count",
            "calibration_date",
            "model_name",
        ]
        start, count = _block_span(_DEFN, names)
        with opening(_DEFN.model, self.config.address):
            words = self._read_input(start, count)
        ident = decode_block(_DEFN.table("input"), start, words)
        fw = int(ident["firmware_version"])
        self._channel_count = int(ident["channel_count"])
        return DeviceInfo(
            model=str(ident["model_name"]) or f"0x{int(ident['model_code']):04X}",
            serial_number=str(ident["serial_number"]),
            firmware_version=f"{fw >> 8}.{fw & 0xFF}",
            channel_count=int(ident["channel_count"]),
            calibration_date=str(ident["calibration_date"]),
        )

    def read(self, groups: Collection[str] | None = None) -> list[Reading]:
        words = self._read_input(self._live_start, self._live_count)
        values = _LIVE.decode(words)
        status = {p: int(values[s]) for p, s in _STATUS_OF}
        return readings({p: float(values[p]) for p, _ in _STATUS_OF}, status)

    def channel_count(self) -> int:
        """The temperature channels fitted: from open(), or read when it has not been called.
        A memory record has no status words; this tells a channel not fitted from an open one."""
        if self._channel_count is None:
            f = _DEFN.field("channel_count")
            self._channel_count = int(decode_field(f, self._read_input(f.address, f.words)))
        return self._channel_count

    def memory_range(self) -> MemoryRange:
        start, count = _block_span(_DEFN, ["oldest_sequence", "newest_sequence", "record_capacity"])
        values = decode_block(_DEFN.table("input"), start, self._read_input(start, count))
        return MemoryRange(
            oldest=int(values["oldest_sequence"]),
            newest=int(values["newest_sequence"]),
            capacity=int(values["record_capacity"]),
        )

    def read_records(self, first: int, count: int) -> list[LoggedRecord]:
        """Records `first` … on, from one window: at most min(count, 5) (§11.3).

        `first` must be held (within memory_range()): otherwise the logger refuses the pointer
        and its DeviceException (code 3: overwritten meanwhile, or past the newest) goes to the
        caller. The slots are taken in order up to the first that does not hold the next
        sequence — past the newest, or overwritten (or the pointer moved by another master)
        between the two requests — so the list may be short or empty (§11.4 step 3.3): read
        memory_range() again before going on.
        """
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        pointer = _DEFN.field("record_pointer")
        self.master.write_registers(
            self.config.address,
            pointer.address,
            encode_field(pointer, first),
            self.config.timeout_s,
        )
        fitted = self.channel_count()
        window = _DEFN.field("record_window_1")
        size = _DEFN.record_registers
        slots = min(count, _DEFN.records_per_window)
        words = self._read_input(window.address, size * slots)
        records: list[LoggedRecord] = []
        for k in range(slots):
            record = decode_record(_DEFN, words[k * size : (k + 1) * size])
            if record is None or record.sequence != first + k:
                break
            records.append(
                LoggedRecord(
                    record.sequence,
                    record.timestamp * 1_000_000,
                    readings(record.values, channel_count=fitted),
                )
            )
        return records

    def read_clock(self) -> float:
        clock = _DEFN.field("clock")
        words = retry_busy(
            lambda: self.master.read_registers(
                self.config.address,
                mb.READ_HOLDING,
                clock.address,
                clock.words,
                self.config.timeout_s,
            )
        )
        return float(decode_field(clock, words))

    def set_clock(self, utc_s: int) -> None:
        """Write the clock (function 16, both registers in one request, §12); a time outside
        2000 … 2100 is refused before anything is sent (an OutOfRangeError)."""
        self.check_clock_value(utc_s)
        clock = _DEFN.field("clock")
        words = encode_field(clock, utc_s)
        retry_busy(
            lambda: self.master.write_registers(
                self.config.address, clock.address, words, self.config.timeout_s
            )
        )

    def close(self) -> None:
        # The line is shared with the other devices on it; the line pool closes it.
        pass
