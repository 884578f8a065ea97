"""A serial port that will not open says what to check, from what the path is."""

from __future__ import annotations

from pathlib import Path

import pytest

from loggerd.core.errors import LinkError
from loggerd.link.transport import SerialSettings, SerialTransport


def test_a_path_that_does_not_exist_is_an_adapter_to_plug_in(tmp_path: Path) -> None:
    with pytest.raises(LinkError) as info:
        SerialTransport(str(tmp_path / "ttyUSB9"), SerialSettings()).open()
    assert "No such port: check that the adapter is plugged in" in str(info.value)


def test_a_file_that_is_no_serial_device_is_said_to_be_one(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a port")
    with pytest.raises(LinkError) as info:
        SerialTransport(str(notes), SerialSettings()).open()
    assert "It is not a serial device: name the adapter's port" in str(info.value)
    assert "plugged in" not in str(info.value)
