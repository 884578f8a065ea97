"""Driver for the reference logger (RL-1600) over Modbus RTU (any pyserial URL) or Modbus TCP."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

from loggerd.bus import BusPool
from loggerd.driver import DeviceInfo, Driver, PointInfo
from loggerd.modbus_config import ModbusDeviceConfig
from loggerd.samples import Quality, Reading
from loggerd_protocol import modbus as mb
from loggerd_protocol.definition import Definition, reference_logger
from loggerd_protocol.values import Record, decode_block, decode_record, encode_field

_DEFN = reference_logger()


class ReferenceModbusConfig(ModbusDeviceConfig):
    """The reference logger needs nothing beyond its line and address."""


def _block_span(defn: Definition, names: Sequence[str]) -> tuple[int, int]:
    fields = [defn.field(n) for n in names]
    start = min(f.address for f in fields)
    return start, max(f.end for f in fields) - start


class ReferenceModbusDriver(Driver):
    config_model = ReferenceModbusConfig
    config: ReferenceModbusConfig

    def __init__(self, config: ReferenceModbusConfig, buses: BusPool | None = None) -> None:
        super().__init__(config, buses)
        self.master = self.buses.modbus(config.url, config.line_settings())
        names = [*_DEFN.point_names(), "device_status"]
        names += [_DEFN.status_field(p).name for p in _DEFN.point_names()]
        self._live_start, self._live_count = _block_span(_DEFN, names)

    @property
    def description(self) -> str:
        return f"RL-1600 address {self.config.address} on {self.master.description}"

    def points(self) -> Sequence[PointInfo]:
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
        ident = decode_block(_DEFN.table("input"), start, self._read_input(start, count))
        fw = int(ident["firmware_version"])
        return DeviceInfo(
            model=str(ident["model_name"]) or f"0x{int(ident['model_code']):04X}",
            serial_number=str(ident["serial_number"]),
            firmware_version=f"{fw >> 8}.{fw & 0xFF}",
            channel_count=int(ident["channel_count"]),
            calibration_date=str(ident["calibration_date"]),
        )

    def read(self, groups: Collection[str] | None = None) -> list[Reading]:
        words = self._read_input(self._live_start, self._live_count)
        values = decode_block(_DEFN.table("input"), self._live_start, words)
        readings = []
        for point in _DEFN.points:
            raw = float(values[point.name])
            status = int(values[_DEFN.status_field(point.name).name])
            if status or math.isnan(raw):
                quality = Quality.SENSOR_FAULT
            elif not point.range[0] <= raw <= point.range[1]:
                quality = Quality.OUT_OF_RANGE
            else:
                quality = Quality.GOOD
            value = raw if quality is Quality.GOOD else math.nan
            readings.append(Reading(point.name, value, raw, quality))
        return readings

    def memory_range(self) -> tuple[int, int]:
        """(oldest, newest) sequence numbers held in the logger's memory."""
        start, count = _block_span(_DEFN, ["oldest_sequence", "newest_sequence"])
        values = decode_block(_DEFN.table("input"), start, self._read_input(start, count))
        return int(values["oldest_sequence"]), int(values["newest_sequence"])

    def read_records(self, first_sequence: int) -> list[Record]:
        """Up to one window of records from `first_sequence` on (what backfill builds upon)."""
        pointer = _DEFN.field("record_pointer")
        self.master.write_registers(
            self.config.address,
            pointer.address,
            encode_field(pointer, first_sequence),
            self.config.timeout_s,
        )
        window = _DEFN.field("record_window_1")
        size = _DEFN.record_registers
        words = self._read_input(window.address, size * _DEFN.records_per_window)
        records = (decode_record(_DEFN, words[i : i + size]) for i in range(0, len(words), size))
        return [r for r in records if r is not None]

    def close(self) -> None:
        # The line is shared with the other devices on it; the bus pool closes it.
        pass
