"""A user's mistake or the machine's state ends in one line that says what, where and what to
do, and exit status 2: never a traceback. Each case runs the real `loggerd` command."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli.test_cli import loggerd

DEVICE = """
[[chamber.device]]
id = "{id}"
driver = "reference-modbus"
url = "{url}"
address = {address}
{extra}
[[chamber.device.channel]]
id = "t-{id}"
point = "temperature_1"
"""


def lab(tmp_path: Path, *devices: dict[str, object], top: str = "", tail: str = "") -> Path:
    """A configuration file in tmp_path: chamber c1 with `devices` (id, url, address, extra)."""
    text = f'{top}data_dir = "data"\n\n[[chamber]]\nid = "c1"\n'
    for d in devices:
        text += DEVICE.format(**{"url": "/dev/ttyUSB0", "address": 1, "extra": "", **d})
    path = tmp_path / "lab.toml"
    path.write_text(text + tail, "utf-8")
    return path


def fails(*args: str) -> str:
    """Run loggerd; it must fail with exit status 2 and one line on stderr: that line."""
    result = subprocess.run(loggerd(*args), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("loggerd: error: ")
    return lines[0].removeprefix("loggerd: error: ")


# `config check` refuses what `loggerd run` refuses, at the same line, in the same words.
CHECKS = [["config", "check"], ["run", "--port", "0", "--config"]]


@pytest.mark.parametrize("command", CHECKS, ids=["config check", "run"])
def test_devices_that_disagree_on_their_line_are_refused_at_the_second(
    tmp_path: Path, command: list[str]
) -> None:
    path = lab(tmp_path, {"id": "a"}, {"id": "b", "address": 2, "extra": "baudrate = 9600"})
    line = path.read_text().splitlines().index('id = "b"')  # its [[chamber.device]]
    assert fails(*command, str(path)) == (
        f"{path}:{line}: chamber[0] (id 'c1').device[1] (id 'b'): devices on /dev/ttyUSB0 "
        "disagree on the line settings (19200 baud 8E1, 0.05 s late-reply guard, and 9600 "
        "baud 8E1, 0.05 s late-reply guard): devices sharing one line must use the same baud "
        "rate, parity and stop bits (the first device on it: device 'a' at line 6)"
    )


@pytest.mark.parametrize("command", CHECKS, ids=["config check", "run"])
def test_two_devices_at_one_address_of_one_line_are_refused(
    tmp_path: Path, command: list[str]
) -> None:
    path = lab(tmp_path, {"id": "a", "address": 7}, {"id": "b", "address": 7})
    line = path.read_text().splitlines().index("address = 7", 10) + 1
    assert fails(*command, str(path)) == (
        f"{path}:{line}: chamber[0] (id 'c1').device[1] (id 'b').address: device 'a' at line 6 "
        "answers to address 7 on /dev/ttyUSB0 too: two devices on one line need two addresses "
        "(check the address set on each device)"
    )


@pytest.mark.parametrize("command", CHECKS, ids=["config check", "run"])
def test_an_unsupported_store_url_is_refused(tmp_path: Path, command: list[str]) -> None:
    path = lab(tmp_path, {"id": "a"}, tail='\n[store]\nurl = "mysql://lab@db-host/loggerd"\n')
    line = len(path.read_text().splitlines())
    assert fails(*command, str(path)) == (
        f"{path}:{line}: store.url: unsupported store URL 'mysql://lab@db-host/loggerd': use "
        "sqlite:/// or postgresql://"
    )


@pytest.mark.parametrize("command", CHECKS, ids=["config check", "run"])
def test_a_tcp_url_without_a_port_is_refused(tmp_path: Path, command: list[str]) -> None:
    path = lab(tmp_path, {"id": "a", "url": "tcp://gateway"})
    line = path.read_text().splitlines().index('url = "tcp://gateway"') + 1
    assert fails(*command, str(path)) == (
        f"{path}:{line}: chamber[0] (id 'c1').device[0] (id 'a').url: 'tcp://gateway' names "
        "no host and port: write tcp://HOST:PORT, e.g. tcp://10.0.0.5:502"
    )


@pytest.mark.parametrize("command", CHECKS, ids=["config check", "run"])
def test_a_configuration_that_is_not_utf8(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "lab.toml"
    path.write_bytes(b'# Kammer 1, Pr\xfcfling\ndata_dir = "data"\n')  # Latin-1
    assert fails(*command, str(path)) == (
        f"{path}:1: the configuration file is not UTF-8 text (byte 0xFC cannot be decoded); "
        "save it as UTF-8"
    )


@pytest.mark.parametrize("command", CHECKS, ids=["config check", "run"])
def test_a_data_dir_that_is_a_file(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "data").write_text("")
    path = lab(tmp_path, {"id": "a"})
    assert fails(*command, str(path)) == (
        f"{path}:1: data_dir: {tmp_path / 'data'} is a file, not a folder: name a folder for "
        "loggerd's data (it is made when missing)"
    )


def test_a_data_dir_that_cannot_be_made(tmp_path: Path) -> None:
    """/proc takes no new folder, not even from root: the machine refuses, in one line."""
    path = lab(tmp_path, {"id": "a"})
    path.write_text(path.read_text().replace('"data"', '"/proc/loggerd-data"'))
    assert fails("run", "--port", "0", "--config", str(path)) == (
        "/proc/loggerd-data: No such file or directory; check the path, its permissions and "
        "the room on its disk"
    )


def test_a_store_url_that_is_no_url() -> None:
    assert fails("db", "status", "--url", "db-host/loggerd") == (
        "--url: 'db-host/loggerd' is not a database URL: write sqlite:///FILE or "
        "postgresql://USER@HOST/DATABASE"
    )


def test_a_database_host_that_does_not_resolve() -> None:
    url = "postgresql://lab@db-host.invalid/loggerd"
    message = fails("db", "status", "--url", url)
    assert message.startswith(
        "cannot read the store at postgresql+psycopg://lab@db-host.invalid/loggerd: failed to "
        "resolve host 'db-host.invalid'"
    )
    assert message.endswith(
        "; check the URL's host, port, user and database, and that the server is running and "
        "reachable"
    )


def test_a_sqlite_store_in_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nowhere/loggerd.db"
    assert fails("db", "upgrade", "--url", url) == (
        f"cannot upgrade the store at {url}: unable to open database file; check that the "
        "SQLite file's folder exists and may be written"
    )


def test_a_port_that_is_not_a_serial_device(tmp_path: Path) -> None:
    path = lab(tmp_path, {"id": "a", "url": "/dev/null"})
    message = fails("backfill", "--config", str(path), "--device", "a")
    assert message.startswith("cannot open serial /dev/null (19200 8E1): ")


@pytest.mark.parametrize("command", ["run", "demo"])
def test_an_api_port_out_of_range(tmp_path: Path, command: str) -> None:
    path = lab(tmp_path, {"id": "a"})
    args = ["--config", str(path)] if command == "run" else ["--data-dir", str(tmp_path / "d")]
    result = subprocess.run(
        loggerd(command, *args, "--port", "99999"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    usage, *_, error = result.stderr.splitlines()  # argparse's: the usage, then the error
    assert usage.startswith(f"usage: loggerd {command} ")
    assert error == (
        f"loggerd {command}: error: argument --port: '99999' is not a port: 0 to 65535 (0: "
        "any free port)"
    )
