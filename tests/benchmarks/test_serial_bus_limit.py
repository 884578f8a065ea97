"""The serial-bus benchmark's wire limit, worked by hand from the Modbus serial-line spec."""

from __future__ import annotations

import pytest

from benchmarks.serial_bus import TURNAROUND_S, limit_tps


def test_8n1_at_9600_two_registers() -> None:
    # request 8 bytes, reply 5 + 4 = 9 bytes; 10-bit characters; 3.5 characters of silence
    # after each frame; plus the device's turnaround
    period = 17 * 10 / 9600 + 2 * 3.5 * 10 / 9600 + TURNAROUND_S
    assert limit_tps(9600, 2, "N", 1) == pytest.approx(1 / period)


def test_8e1_characters_are_eleven_bits() -> None:
    period = 17 * 11 / 9600 + 2 * 3.5 * 11 / 9600 + TURNAROUND_S
    assert limit_tps(9600, 2, "E", 1) == pytest.approx(1 / period)


def test_silence_is_fixed_above_19200_baud() -> None:
    # 60 registers: reply 5 + 120 bytes; the silence is 1.75 ms whatever the framing
    period = 133 * 11 / 115200 + 2 * 1.75e-3 + TURNAROUND_S
    assert limit_tps(115200, 60, "E", 1) == pytest.approx(1 / period)
