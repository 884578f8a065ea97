"""Configuration errors name the file, the line or key, and what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from loggerd.core.errors import ConfigError
from loggerd.service.config import load_config, parse_config

GOOD = """
data_dir = "data"

[[chamber]]
id = "c1"

[[chamber.device]]
id = "logger-1"
driver = "reference-modbus"
url = "/dev/ttyUSB0"
address = 3
poll_interval_s = 2.0

[[chamber.device.channel]]
id = "air"
point = "temperature_1"

[[chamber.device.channel]]
id = "rh"
point = "rh"
"""


def test_good_config_parses(tmp_path: Path) -> None:
    path = tmp_path / "loggerd.toml"
    path.write_text(GOOD)
    config = load_config(path)
    device = config.chambers[0].devices[0]
    assert device.driver_settings() == {"url": "/dev/ttyUSB0", "address": 3}
    assert [c.id for c in device.channels] == ["air", "rh"]
    assert config.data_dir == tmp_path / "data"  # relative to the config file


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "lab.toml")
    return str(exc.value)


def test_toml_syntax_error_names_file_and_line() -> None:
    msg = error_of(GOOD.replace('id = "c1"', 'id = "c1'))
    assert msg.startswith("lab.toml: not valid TOML")
    assert "line 5" in msg


def test_driver_setting_out_of_range_names_device_key_and_line() -> None:
    msg = error_of(GOOD.replace("address = 3", "address = 300"))
    assert msg.startswith("lab.toml:11: ")
    assert "device[0] (id 'logger-1').address" in msg
    assert "less than or equal to 247" in msg and "300" in msg


def test_unknown_driver_key_is_rejected() -> None:
    msg = error_of(GOOD.replace("address = 3", "adress = 3"))
    assert "adress: unknown key for driver 'reference-modbus'" in msg
    assert msg.startswith("lab.toml:11: ")


def test_missing_driver_setting() -> None:
    msg = error_of(GOOD.replace('url = "/dev/ttyUSB0"\n', ""))
    assert "device[0] (id 'logger-1').url: Field required" in msg


def test_unknown_driver_lists_the_installed_ones() -> None:
    msg = error_of(GOOD.replace('driver = "reference-modbus"', 'driver = "modbus-foo"'))
    assert "no driver named 'modbus-foo'" in msg
    assert "reference-modbus" in msg and "simulated" in msg


def test_unknown_point_names_the_channel_and_the_choices() -> None:
    msg = error_of(GOOD.replace('point = "rh"', 'point = "humidity"'))
    assert "channel[1] (id 'rh').point: 'humidity' is not a point of driver" in msg
    assert "temperature_16" in msg


def test_common_key_error_names_chamber_and_device() -> None:
    msg = error_of(GOOD.replace("poll_interval_s = 2.0", "poll_interval_s = -1"))
    assert "chamber[0] (id 'c1').device[0] (id 'logger-1').poll_interval_s" in msg
    assert "greater than 0" in msg


def test_duplicate_channel_ids_are_rejected() -> None:
    """One line, at the second id, naming it: not the chamber's whole table."""
    text = GOOD.replace('id = "rh"', 'id = "air"')
    second = text.splitlines().index('id = "air"', 16) + 1
    assert second == 19
    assert error_of(text) == (
        f"lab.toml:{second}: chamber[0] (id 'c1').device[0] (id 'logger-1').channel[1] "
        "(id 'air').id: duplicate channel id 'air': ids must be unique"
    )


def test_duplicate_device_and_chamber_ids_are_one_line_each() -> None:
    text = GOOD + "\n[[chamber.device]]" + GOOD.split("[[chamber.device]]")[1]
    line = text.splitlines().index('id = "logger-1"', 9) + 1  # the second device's id
    assert error_of(text) == (
        f"lab.toml:{line}: chamber[0] (id 'c1').device[1] (id 'logger-1').id: "
        "duplicate device id 'logger-1': ids must be unique"
    )
    text = GOOD + '\n[[chamber]]\nid = "c1"\n[[chamber.device]]\nid = "other"\n'
    text += 'driver = "simulated"\n'
    line = text.splitlines().index('id = "c1"', 6) + 1  # the second chamber's id
    msg = error_of(text)
    assert msg == (
        f"lab.toml:{line}: chamber[1] (id 'c1').id: duplicate chamber id 'c1': ids must be unique"
    )
    assert "\n" not in msg and "{" not in msg


def test_a_derived_channel_naming_an_unknown_input_is_located() -> None:
    derived = '\n[[chamber.derived]]\nid = "fp"\nquantity = "frost_point"\n'
    derived += 'temperature = "air"\nrh = "humidity"\n'
    line = (GOOD + derived).splitlines().index('rh = "humidity"') + 1
    assert error_of(GOOD + derived) == (
        f"lab.toml:{line}: chamber[0] (id 'c1').derived[0] (id 'fp').rh: 'humidity' is not a "
        "measured channel of chamber 'c1' (its channels: air, rh)"
    )


def test_a_bad_certificate_is_reported_at_the_channel_that_names_it(tmp_path: Path) -> None:
    """Two channels with certificates, the second one's bad: the error is at the second
    channel's line (it used to be reported at the first `certificate =` in the file)."""
    certs = Path(__file__).resolve().parents[2] / "deploy" / "certificates"
    good = certs / "example-pt100.toml"
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace("version = 1", "version = 0"))
    config = tmp_path / "lab.toml"
    config.write_text(
        GOOD.replace('point = "temperature_1"', f'point = "temperature_1"\ncertificate = "{good}"')
        + '\n[[chamber.device.channel]]\nid = "t2"\npoint = "temperature_2"\n'
        + 'certificate = "bad.toml"\n'
    )
    text = config.read_text()
    line = text.splitlines().index('certificate = "bad.toml"') + 1
    assert line > text.splitlines().index(f'certificate = "{good}"') + 1
    with pytest.raises(ConfigError) as info:
        load_config(config)
    version_line = bad.read_text().splitlines().index("version = 0") + 1
    assert str(info.value) == (
        f"{config}:{line}: chamber[0] (id 'c1').device[0] (id 'logger-1').channel[2] "
        f"(id 't2').certificate: {bad}:{version_line}: version: version must be >= 1, got 0"
    )


def test_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_config(tmp_path / "nope.toml")


def test_a_profile_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    from importlib import resources

    shipped = resources.files("loggerd_protocol").joinpath("profiles", "vaisala_hmt330.toml")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "acme.toml").write_text(shipped.read_text("utf-8"))
    path = tmp_path / "lab.toml"
    path.write_text("""
[[chamber]]
id = "c1"
[[chamber.device]]
id = "hmt"
driver = "modbus-profile"
profile = "profiles/acme.toml"
url = "/dev/ttyUSB1"
address = 240
[[chamber.device.channel]]
id = "rh"
point = "rh"
""")
    config = load_config(path)  # the working directory is elsewhere: the path still resolves
    device = config.chambers[0].devices[0]
    assert device.driver_settings()["profile"] == str(tmp_path / "profiles" / "acme.toml")


def second_device(url: str = "/dev/ttyUSB0", **settings: object) -> str:
    """GOOD and a second device (on logger-1's line by default), with `settings` of its own."""
    lines = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in settings.items())
    return (
        GOOD
        + '\n[[chamber.device]]\nid = "logger-2"\ndriver = "reference-modbus"\n'
        + f'url = "{url}"\n{lines}'
    )


def test_devices_on_one_line_must_drive_it_alike() -> None:
    """What `loggerd run` refuses when it builds the devices, said at the second device."""
    text = second_device(address=4, baudrate=9600)
    line = text.splitlines().index('id = "logger-2"')  # its [[chamber.device]] header
    assert error_of(text) == (
        f"lab.toml:{line}: chamber[0] (id 'c1').device[1] (id 'logger-2'): devices on "
        "/dev/ttyUSB0 disagree on the line settings (19200 baud 8E1, 0.05 s late-reply guard, "
        "and 9600 baud 8E1, 0.05 s late-reply guard): devices sharing one line must use the "
        "same baud rate, parity and stop bits (the first device on it: device 'logger-1' at "
        "line 7)"
    )
    ascii_second = '"logger-2"\ndriver = "reference-ascii"'
    text = second_device().replace('"logger-2"\ndriver = "reference-modbus"', ascii_second)
    assert "speak different protocols" in error_of(text)
    assert error_of(GOOD.replace('"/dev/ttyUSB0"', '"tcp://gateway"')) == (
        "lab.toml:10: chamber[0] (id 'c1').device[0] (id 'logger-1').url: 'tcp://gateway' "
        "names no host and port: write tcp://HOST:PORT, e.g. tcp://10.0.0.5:502"
    )


def test_two_devices_with_one_address_on_one_line_are_rejected() -> None:
    text = second_device(address=3)
    line = len(text.splitlines())
    assert error_of(text) == (
        f"lab.toml:{line}: chamber[0] (id 'c1').device[1] (id 'logger-2').address: device "
        "'logger-1' at line 7 answers to address 3 on /dev/ttyUSB0 too: two devices on one "
        "line need two addresses (check the address set on each device)"
    )
    # The same address on another line, or another address on this one: two devices.
    parse_config(second_device(address=4), "lab.toml")
    parse_config(second_device("/dev/ttyUSB1", address=3), "lab.toml")


def test_an_unsupported_or_malformed_store_url_is_rejected() -> None:
    at = len(GOOD.splitlines()) + 2  # the line after [store]
    assert error_of(GOOD + '[store]\nurl = "mysql://lab@db-host/loggerd"\n') == (
        f"lab.toml:{at}: store.url: unsupported store URL 'mysql://lab@db-host/loggerd': use "
        "sqlite:/// or postgresql://"
    )
    assert error_of(GOOD + '[store]\nurl = "db-host/loggerd"\n') == (
        f"lab.toml:{at}: store.url: 'db-host/loggerd' is not a database URL: write "
        "sqlite:///FILE or postgresql://USER@HOST/DATABASE"
    )
    assert error_of(GOOD + '[store]\nschema = "lab"\n').startswith(
        f"lab.toml:{at}: store.schema: a schema is for a PostgreSQL store"
    )
    # A database that does not answer is no configuration error: it may be restarting.
    parse_config(GOOD + '[store]\nurl = "postgresql://lab@db-host.invalid/loggerd"\n')


def test_a_data_dir_that_is_a_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    path = tmp_path / "loggerd.toml"
    path.write_text(GOOD)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}:2: data_dir: {tmp_path / 'data'} is a file, not a folder: name a folder for "
        "loggerd's data (it is made when missing)"
    )


def test_alarms_are_read_and_one_naming_an_unknown_channel_is_located() -> None:
    alarms = (
        '\n[alarms]\nwebhooks = ["https://lab.example/hooks/loggerd"]\n'
        '[alarms.mqtt]\nurl = "mqtt://127.0.0.1:1883"\n'
        '[[alarms.limit]]\nchamber = "c1"\nchannel = "air"\nhigh = 30\nlow = -75\ndelay_s = 10\n'
        '[[alarms.stale]]\nchamber = "c1"\nchannel = "rh"\nmax_age_s = 60\n'
    )
    config = parse_config(GOOD + alarms, "lab.toml")
    (limit,) = config.alarms.limit
    assert (limit.high, limit.low, limit.delay_s) == (30, -75, 10)
    assert config.alarms.mqtt is not None and config.alarms.mqtt.prefix == "loggerd"
    bad = alarms.replace('channel = "rh"', 'channel = "humidity"')
    line = (GOOD + bad).splitlines().index('channel = "humidity"') + 1
    assert error_of(GOOD + bad) == (
        f"lab.toml:{line}: alarms.stale[0].channel: no channel 'humidity' in chamber 'c1'; "
        "known: c1/air, c1/rh"
    )
    assert "low (10.0) must be below high (5.0)" in error_of(
        GOOD + alarms.replace("high = 30\nlow = -75", "high = 5\nlow = 10")
    )
