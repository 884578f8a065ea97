"""One owner per line: devices naming one line share it, and must drive it one way."""

from __future__ import annotations

import pytest

from loggerd.core.errors import ConfigError
from loggerd.link.lines import LinePool
from loggerd.link.transport import SerialSettings
from loggerd.modbus.lines import LineSettings, modbus_master
from loggerd.modbus.master import ModbusMaster


def test_devices_on_one_line_get_one_master() -> None:
    pool = LinePool()
    try:
        settings = LineSettings(SerialSettings(baudrate=19200, parity="E"))
        first = modbus_master(pool, "/dev/ttyUSB0", settings)
        assert modbus_master(pool, "/dev/ttyUSB0", settings) is first
        assert isinstance(first, ModbusMaster)
        assert modbus_master(pool, "/dev/ttyUSB1", settings) is not first
        assert list(pool.lines()) == ["/dev/ttyUSB0", "/dev/ttyUSB1"]
    finally:
        pool.close()


def test_devices_that_disagree_on_the_line_settings_are_refused() -> None:
    pool = LinePool()
    try:
        modbus_master(pool, "/dev/ttyUSB0", LineSettings(SerialSettings(baudrate=19200)))
        with pytest.raises(ConfigError) as info:
            modbus_master(pool, "/dev/ttyUSB0", LineSettings(SerialSettings(baudrate=9600)))
        assert str(info.value).startswith(
            "devices on /dev/ttyUSB0 disagree on the line settings (19200 baud 8E1, 0.05 s "
            "late-reply guard, and 9600 baud 8E1, 0.05 s late-reply guard)"
        )
    finally:
        pool.close()


def test_one_line_carries_one_protocol() -> None:
    pool = LinePool()
    try:
        serial = SerialSettings(baudrate=9600, parity="N")
        pool.transport("/dev/ttyS0", serial)
        with pytest.raises(ConfigError) as info:
            modbus_master(pool, "/dev/ttyS0", LineSettings(serial))
        assert str(info.value) == (
            "devices on /dev/ttyS0 speak different protocols (a protocol of one device's own "
            "(ASCII) and Modbus): one line carries one protocol"
        )
    finally:
        pool.close()
