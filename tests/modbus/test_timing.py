"""RTU timing follows the line's framing (Modbus over serial line V1.02, §2.5.1.1): a character
is start + data + parity + stop bits; the inter-frame silence is 3.5 characters, 1.75 ms above
19200 baud. Figures worked out here by hand, not taken from the code under test."""

from __future__ import annotations

import pytest

from loggerd.link.lines import LinePool
from loggerd.link.transport import SerialSettings
from loggerd.modbus.lines import LineSettings, modbus_master
from loggerd_protocol.modbus import RtuTiming


@pytest.mark.parametrize(
    ("parity", "stopbits", "bits"), [("E", 1, 11), ("O", 1, 11), ("N", 1, 10), ("N", 2, 11)]
)
def test_a_character_is_start_data_parity_and_stop_bits(
    parity: str, stopbits: int, bits: int
) -> None:
    assert SerialSettings(9600, parity, stopbits).bits_per_character == bits


def test_the_silence_is_three_and_a_half_characters_up_to_19200_baud() -> None:
    assert RtuTiming(9600, 11).silence_s == pytest.approx(3.5 * 11 / 9600)  # 4.01 ms
    assert RtuTiming(9600, 10).silence_s == pytest.approx(3.5 * 10 / 9600)  # 3.65 ms
    assert RtuTiming(19200, 11).frame_s(8) == pytest.approx(8 * 11 / 19200)
    assert RtuTiming(38400, 11).silence_s == 1.75e-3
    assert RtuTiming(115200, 10).silence_s == 1.75e-3


def test_the_master_of_an_8n1_line_counts_ten_bits_a_character() -> None:
    pool = LinePool()
    try:
        master = modbus_master(pool, "/dev/null", LineSettings(SerialSettings(9600, "N", 1)))
        assert master.timing.character_s == pytest.approx(10 / 9600)
    finally:
        pool.close()
