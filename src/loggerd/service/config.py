"""The daemon's TOML configuration: chambers, their devices and channels, validated once at start.

Every error names the file, the key (with the chamber and device ids) and what is expected.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from loggerd.core.errors import ConfigError, DriverLoadError, LoggerdError
from loggerd.drivers.base import DriverConfig
from loggerd.drivers.registry import load_driver
from loggerd.processing.humidity import Formulation
from loggerd.processing.pipeline import DerivedQuantity
from loggerd_protocol.toml_document import (
    KeyPath,
    LocatedValueError,
    Problem,
    TomlDocument,
    TomlDocumentError,
)

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelConfig(_Strict):
    id: str = Field(pattern=_ID, description="Channel id, unique within its chamber")
    point: str = Field(description="The device's point this channel reads, e.g. temperature_1")
    name: str | None = None
    quantity: str | None = None  # taken from the driver's point when absent
    unit: str | None = None
    certificate: Path | None = Field(
        default=None,
        description="Calibration certificate (TOML) applied to this channel; relative paths "
        "are relative to the configuration file",
    )
    probe_temperature_channel: str | None = Field(
        default=None,
        description="For a 2-D RH certificate: the channel measuring the probe's temperature",
    )


class DerivedConfig(_Strict):
    """A channel computed from a chamber's temperature and RH channels."""

    id: str = Field(pattern=_ID)
    name: str | None = None
    quantity: DerivedQuantity
    temperature: str = Field(description="Channel id of the air temperature")
    rh: str = Field(description="Channel id of the relative humidity (w.r.t. water)")
    formulation: Formulation = Formulation.HARDY1998
    pressure: str | None = Field(default=None, description="Channel id of the pressure, hPa")
    pressure_hpa: float = Field(default=1013.25, gt=0, le=2000)
    max_input_age_s: float = Field(default=10.0, gt=0)
    u_temperature_k: float | None = Field(
        default=None, ge=0, description="Expanded (k=2) uncertainty when uncertified"
    )
    u_rh_pct: float | None = Field(default=None, ge=0)
    check: str | None = Field(
        default=None, description="Channel id of the device's own value to cross-check"
    )
    check_limit: float = Field(default=1.0, gt=0, description="In the derived channel's unit")


class DeviceConfig(BaseModel):
    """Common device keys; the driver's own keys sit beside them and are checked by its model."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(pattern=_ID)
    driver: str
    poll_interval_s: float = Field(default=1.0, gt=0, le=86400)
    retries: int = Field(default=1, ge=0, le=10, description="extra attempts within a poll")
    quarantine_after: int = Field(
        default=3, ge=1, le=1000, description="failed polls in a row before a back-off"
    )
    backoff_initial_s: float = Field(default=5.0, gt=0, le=86400)
    backoff_max_s: float = Field(default=300.0, gt=0, le=86400)
    # Where the history of a logger with a memory of its own comes from. "memory": its records
    # (logger-stamped, numbered; backfilled after any outage), live reads feed the live view.
    # "polls": the live reads (host-stamped). Devices without a memory always use "polls".
    history: Literal["memory", "polls"] = "memory"
    backfill_duty: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="share of each poll interval a download of the logger's memory may take",
    )
    clock_offset_limit_s: float = Field(
        default=2.0, gt=0, description="raise an event when the logger's clock is further off"
    )
    clock_drift_limit_ppm: float = Field(
        default=100.0, gt=0, description="raise an event when the logger's clock drifts faster"
    )
    clock_check_interval_s: float = Field(
        default=3600.0, gt=0, description="measure the clock again this often (and on connect)"
    )
    channels: list[ChannelConfig] = Field(default_factory=list, alias="channel")

    def driver_settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ChamberConfig(_Strict):
    id: str = Field(pattern=_ID)
    name: str | None = None
    devices: list[DeviceConfig] = Field(alias="device", min_length=1)
    derived: list[DerivedConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ids_and_references(self) -> ChamberConfig:
        devices: list[tuple[KeyPath, str]] = [
            (("device", i, "id"), d.id) for i, d in enumerate(self.devices)
        ]
        _no_duplicates(devices, "device id")
        measured: list[tuple[KeyPath, str]] = [
            (("device", di, "channel", ci, "id"), c.id)
            for di, d in enumerate(self.devices)
            for ci, c in enumerate(d.channels)
        ]
        derived: list[tuple[KeyPath, str]] = [
            (("derived", i, "id"), d.id) for i, d in enumerate(self.derived)
        ]
        _no_duplicates(measured + derived, "channel id")
        known = [c for _, c in measured]
        for i, d in enumerate(self.derived):
            for key in ("temperature", "rh", "pressure", "check"):
                ref = getattr(d, key)
                if ref is not None and ref not in known:
                    raise LocatedValueError(
                        ("derived", i, key),
                        f"{ref!r} is not a measured channel of chamber {self.id!r} (its "
                        f"channels: {', '.join(known)})",
                    )
        channels = (c for d in self.devices for c in d.channels)
        for (path, _), c in zip(measured, channels, strict=True):
            ref = c.probe_temperature_channel
            if ref is not None and ref not in known:
                raise LocatedValueError(
                    (*path[:-1], "probe_temperature_channel"),
                    f"{ref!r} is not a channel of chamber {self.id!r}",
                )
        return self


class StoreConfig(_Strict):
    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. postgresql://user@host/db; SQLite in "
        "data_dir/loggerd.db when absent",
    )
    schema_: str | None = Field(
        default=None,
        alias="schema",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema to keep loggerd's tables in (default: public)",
    )
    # FULL: a committed sample survives a power cut. NORMAL (WAL) may lose the last commits
    # on power loss, never corrupts, and is faster on slow storage such as SD cards.
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    batch_size: int = Field(default=5000, ge=1, le=100_000, description="samples per flush")
    flush_interval_s: float = Field(default=1.0, gt=0, le=60)
    max_queued: int = Field(
        default=100_000, ge=1, le=10_000_000, description="queue depth before back-pressure"
    )
    raw_retention_days: float | None = Field(
        default=None, gt=0, description="keep raw samples this long; for ever when absent"
    )
    rollup_retention_days: dict[Literal["1m", "10m", "1h", "1d"], float] = Field(
        default_factory=dict, description="per rollup tier; a tier not named is kept for ever"
    )
    prune_interval_s: float = Field(default=3600.0, gt=0, description="how often to prune")
    # Every accepted sample is spooled on local disk before the store gets it, so nothing
    # accepted is lost to a crash or a store outage. NORMAL survives a crash of loggerd; FULL
    # also a power cut (the logger's memory covers that too, by backfill).
    spool_synchronous: Literal["FULL", "NORMAL"] = "NORMAL"
    spool_max_mb: float | None = Field(
        default=None, gt=0, description="cap on the spool file; the disk's free space when absent"
    )

    @model_validator(mode="after")
    def _retention_order(self) -> StoreConfig:
        for tier, days in self.rollup_retention_days.items():
            if days <= 0:
                raise ValueError(f"rollup_retention_days.{tier} must be > 0 (got {days})")
        if self.schema_ is not None and self.url is None:
            raise LocatedValueError(
                ("schema",),
                "a schema is for a PostgreSQL store, and without url the store is SQLite: "
                'set url = "postgresql://USER@HOST/DATABASE" or remove schema',
            )
        return self


class ApiConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_raw_points: int = Field(
        default=200_000,
        ge=1,
        description="the most raw points a history or export request is answered with; one "
        "that would return more is refused (422) with the max_points to ask for instead",
    )


class _ChannelRef(_Strict):
    chamber: str = Field(description="the chamber's id")
    channel: str = Field(description="the channel's id in that chamber")


class LimitAlarmConfig(_ChannelRef):
    high: float | None = None
    low: float | None = None
    deadband: float = Field(default=0.0, ge=0, description="back inside by this much to clear")
    delay_s: float = Field(default=0.0, ge=0, description="beyond the limit this long to raise")
    severity: Literal["warning", "critical"] = "critical"

    @model_validator(mode="after")
    def _limits(self) -> LimitAlarmConfig:
        if self.high is None and self.low is None:
            raise ValueError("give high, low or both")
        if self.high is not None and self.low is not None and self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class RateAlarmConfig(_ChannelRef):
    max_per_min: float = Field(gt=0, description="in the channel's unit per minute")
    window_s: float = Field(default=60.0, gt=0)
    severity: Literal["warning", "critical"] = "warning"


class DeviationAlarmConfig(_ChannelRef):
    quantity: Literal["temperature_c", "rh_pct", "frost_point_c", "ppmv"] = "temperature_c"
    delay_s: float = Field(default=60.0, ge=0)
    severity: Literal["warning", "critical"] = "critical"


class StaleAlarmConfig(_ChannelRef):
    max_age_s: float = Field(gt=0)
    severity: Literal["warning", "critical"] = "warning"


class MqttConfig(_Strict):
    url: str = Field(pattern=r"^mqtts?://[^/:]+(:\d+)?/?$", description="mqtt://host:1883")
    prefix: str = Field(default="loggerd", pattern=r"^[^#+]+$")
    username: str | None = None
    password: str | None = None
    ca_file: str | None = Field(default=None, description="mqtts: the broker's CA file")


class AlarmsConfig(_Strict):
    limit: list[LimitAlarmConfig] = Field(default_factory=list)
    rate: list[RateAlarmConfig] = Field(default_factory=list)
    deviation: list[DeviationAlarmConfig] = Field(default_factory=list)
    stale: list[StaleAlarmConfig] = Field(default_factory=list)
    sensor_faults: bool = True
    communication: bool = True
    calibration: bool = True
    memory_full_fraction: float | None = Field(default=0.8, gt=0, le=1)
    status_interval_s: float = Field(default=5.0, gt=0, le=3600)
    webhooks: list[str] = Field(default_factory=list, description="URLs POSTed each action")
    mqtt: MqttConfig | None = None


class DaemonConfig(_Strict):
    data_dir: Path = Path("loggerd-data")
    ring_size: int = Field(default=3600, ge=10, le=10_000_000, description="samples per channel")
    api: ApiConfig = ApiConfig()
    store: StoreConfig = StoreConfig()
    alarms: AlarmsConfig = AlarmsConfig()
    chambers: list[ChamberConfig] = Field(alias="chamber", min_length=1)

    @model_validator(mode="after")
    def _alarm_channels(self) -> DaemonConfig:
        known = {
            (c.id, ch.id): None for c in self.chambers for d in c.devices for ch in [*d.channels]
        }
        known.update({(c.id, dv.id): None for c in self.chambers for dv in c.derived})
        for kind in ("limit", "rate", "deviation", "stale"):
            for i, rule in enumerate(getattr(self.alarms, kind)):
                if (rule.chamber, rule.channel) not in known:
                    names = ", ".join(f"{a}/{b}" for a, b in known) or "none"
                    raise LocatedValueError(
                        ("alarms", kind, i, "channel"),
                        f"no channel {rule.channel!r} in chamber {rule.chamber!r}; known: {names}",
                    )
        return self

    @field_validator("chambers")
    @classmethod
    def _unique_chambers(cls, chambers: list[ChamberConfig]) -> list[ChamberConfig]:
        _no_duplicates([((i, "id"), c.id) for i, c in enumerate(chambers)], "chamber id")
        devices: list[tuple[KeyPath, str]] = [
            ((ci, "device", di, "id"), d.id)
            for ci, c in enumerate(chambers)
            for di, d in enumerate(c.devices)
        ]
        _no_duplicates(devices, "device id")
        return chambers


def _no_duplicates(ids: Sequence[tuple[KeyPath, str]], what: str) -> None:
    """The second of two equal ids is the error, at its own key."""
    first: set[str] = set()
    for path, ident in ids:
        if ident in first:
            raise LocatedValueError(path, f"duplicate {what} {ident!r}: ids must be unique")
        first.add(ident)


UNKNOWN_KEY = "unknown key (check the spelling; see deploy/*.toml for the keys)"


def _resolve_driver_paths(data: Any, base_dir: Path) -> None:
    """Make the file paths in drivers' settings (their `path_fields`) relative to base_dir."""
    chambers = data.get("chamber") if isinstance(data, dict) else None
    for chamber in chambers if isinstance(chambers, list) else []:
        devices = chamber.get("device") if isinstance(chamber, dict) else None
        for device in devices if isinstance(devices, list) else []:
            if not isinstance(device, dict) or not isinstance(device.get("driver"), str):
                continue
            try:
                driver = load_driver(device["driver"])
            except DriverLoadError:
                continue  # reported with its line by the validation that follows
            for key in driver.config_model.path_fields:
                value = device.get(key)
                if not isinstance(value, str):
                    continue
                looks_like_path = value.endswith(".toml") or "/" in value or "\\" in value
                if looks_like_path and not Path(value).is_absolute():
                    device[key] = str(base_dir / value)


def parse_config(
    text: str, source: str = "<config>", base_dir: Path | None = None, devices: bool = True
) -> DaemonConfig:
    """Parse and validate a configuration, including each device's driver settings; every
    problem is one line: `file:line: chamber[0] (id 'c1').device[1] (id 'd').key: problem`.

    Relative file paths in driver settings are taken relative to `base_dir` (the directory of
    the configuration file) when it is given. With devices=False (a process that polls
    nothing: an API replica) drivers are neither loaded nor asked to check their settings.
    """
    try:
        return _validated(TomlDocument.parse(text, source), base_dir, devices)
    except TomlDocumentError as exc:
        raise ConfigError(str(exc)) from None


def _validated(doc: TomlDocument, base_dir: Path | None, devices: bool) -> DaemonConfig:
    if base_dir is not None and devices:
        _resolve_driver_paths(doc.data, base_dir)
    config = doc.validate(DaemonConfig, unknown_key=UNKNOWN_KEY)
    problems = _store_problems(doc, config.store)
    if devices:
        problems += [
            problem
            for ci, chamber in enumerate(config.chambers)
            for di, device in enumerate(chamber.devices)
            for problem in _device_problems(doc, ("chamber", ci, "device", di), device)
        ]
        problems = problems or _line_problems(doc, config)
    if problems:
        raise TomlDocumentError(problems)
    return config


def _store_problems(doc: TomlDocument, store: StoreConfig) -> list[Problem]:
    if store.url is None:
        return []
    problem = store_url_problem(store.url, store.schema_)
    return [] if problem is None else [doc.problem(("store", "url"), problem)]


def store_url_problem(url: str, schema: str | None = None) -> str | None:
    """What keeps the store from taking this URL (and schema), as the store itself judges it
    (an engine is made and dropped; nothing is connected, so a database that is down is no
    problem here); None when it takes them."""
    from sqlalchemy.exc import ArgumentError

    from loggerd.storage.store import Store, StoreError

    try:
        Store(url, schema=schema).close()
    except StoreError as exc:
        return str(exc)
    except ArgumentError:
        return (
            f"{url!r} is not a database URL: write sqlite:///FILE or "
            "postgresql://USER@HOST/DATABASE"
        )
    return None


def _line_problems(doc: TomlDocument, config: DaemonConfig) -> list[Problem]:
    """What `loggerd run` would refuse when it builds the devices: every driver is built on
    one line pool, as the daemon builds them (nothing is opened), so devices sharing a line
    must speak one protocol and drive it alike; and no two of them may answer to one
    address there. Each problem is at the later device, naming the earlier one."""
    # Here, not at the top: a process that polls nothing (an API replica) loads no line code.
    from loggerd.link.lines import LinePool

    lines = LinePool()
    first_on: dict[str, KeyPath] = {}  # line -> the first device on it
    first_at: dict[tuple[str, int | None], KeyPath] = {}  # (line, address) -> that device
    problems = []
    try:
        for ci, chamber in enumerate(config.chambers):
            for di, device in enumerate(chamber.devices):
                at: KeyPath = ("chamber", ci, "device", di)
                settings = driver_settings(device)
                url = getattr(settings, "url", None)
                if not isinstance(url, str):
                    continue  # not on a line (a simulated logger)
                address = getattr(settings, "address", None)
                earlier = first_at.get((url, address))
                if earlier is not None:
                    key: KeyPath = (*at, "address") if address is not None else (*at, "url")
                    problems.append(doc.problem(key, _same_address(doc, earlier, url, address)))
                    continue
                try:
                    load_driver(device.driver)(settings, lines)
                except (LoggerdError, ValueError) as exc:
                    first = first_on.get(url)
                    also = (
                        "" if first is None else f" (the first device on it: {_named(doc, first)})"
                    )
                    problems.append(doc.problem(at, f"{exc}{also}"))
                    continue
                first_on.setdefault(url, at)
                first_at[(url, address)] = at
    finally:
        lines.close()
    return problems


def _named(doc: TomlDocument, at: KeyPath) -> str:
    """A device as a person finds it in the file: `device 'a' at line 12`."""
    line = doc.line(at)
    name = f"device {doc.get((*at, 'id'))!r}"
    return f"{name} at line {line}" if line else name


def _same_address(doc: TomlDocument, earlier: KeyPath, url: str, address: int | None) -> str:
    if address is None:
        return (
            f"{_named(doc, earlier)} is on {url} too: this driver's line carries one device "
            "(give each device its own port)"
        )
    return (
        f"{_named(doc, earlier)} answers to address {address} on {url} too: two devices on "
        "one line need two addresses (check the address set on each device)"
    )


def _device_problems(doc: TomlDocument, at: KeyPath, device: DeviceConfig) -> list[Problem]:
    """The device's driver exists, takes its settings, and offers the points its channels
    read: checked without building the driver or opening a line."""
    try:
        driver = load_driver(device.driver)
    except DriverLoadError as exc:
        return [doc.problem((*at, "driver"), str(exc))]
    unknown = f"unknown key for driver {device.driver!r}"
    try:
        settings = doc.check(
            driver.config_model, device.driver_settings(), at=at, unknown_key=unknown
        )
    except TomlDocumentError as exc:
        return list(exc.problems)
    offered = {p.name for p in driver.points_for(settings)}
    return [
        doc.problem(
            (*at, "channel", i, "point"),
            f"{channel.point!r} is not a point of driver {device.driver!r}; expected one of "
            f"{', '.join(sorted(offered))}",
        )
        for i, channel in enumerate(device.channels)
        if channel.point not in offered
    ]


def driver_settings(device: DeviceConfig) -> DriverConfig:
    """A device's settings as its driver's model (parse_config has checked them)."""
    return load_driver(device.driver).config_model.model_validate(device.driver_settings())


def load_config(path: str | Path, devices: bool = True) -> DaemonConfig:
    """Read and validate a configuration file; devices=False: see parse_config. Relative
    paths in it (data_dir, certificates, driver files) are relative to the file's folder."""
    p = Path(path)
    try:
        doc = TomlDocument.read(p, "the configuration file")
        config = _relative_to(_validated(doc, p.parent, devices), p.parent)
        problems = _data_dir_problems(doc, config)
        if devices:
            problems += _certificate_problems(doc, config)
        if problems:
            raise TomlDocumentError(problems)
    except TomlDocumentError as exc:
        raise ConfigError(str(exc)) from None
    return config


def _relative_to(config: DaemonConfig, folder: Path) -> DaemonConfig:
    if not config.data_dir.is_absolute():
        config = config.model_copy(update={"data_dir": (folder / config.data_dir).resolve()})
    chambers = []
    for chamber in config.chambers:
        device_configs = []
        for device in chamber.devices:
            channels = []
            for channel in device.channels:
                cert = channel.certificate
                if cert is not None and not cert.is_absolute():
                    channel = channel.model_copy(update={"certificate": folder / cert})
                channels.append(channel)
            device_configs.append(device.model_copy(update={"channels": channels}))
        chambers.append(chamber.model_copy(update={"devices": device_configs}))
    return config.model_copy(update={"chambers": chambers})


def _data_dir_problems(doc: TomlDocument, config: DaemonConfig) -> list[Problem]:
    """The data folder is a folder, or can become one (it is made at the first start)."""
    folder = config.data_dir
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or existing.is_dir():
        return []
    return [
        doc.problem(
            ("data_dir",),
            f"{existing} is a file, not a folder: name a folder for loggerd's data (it is made "
            "when missing)",
        )
    ]


def _certificate_problems(doc: TomlDocument, config: DaemonConfig) -> list[Problem]:
    """Load every channel's certificate once, so that a bad one stops the start-up, named at
    the line of the channel that refers to it (and, inside it, at its own line)."""
    from loggerd.processing.calibration import CertificateError, load_certificate

    problems = []
    for ci, chamber in enumerate(config.chambers):
        for di, device in enumerate(chamber.devices):
            for i, channel in enumerate(device.channels):
                if channel.certificate is None:
                    continue
                at: KeyPath = ("chamber", ci, "device", di, "channel", i, "certificate")
                try:
                    cert = load_certificate(channel.certificate)
                except CertificateError as exc:
                    problems += [doc.problem(at, str(p)) for p in exc.problems]
                    continue
                if cert.rows is not None and channel.probe_temperature_channel is None:
                    problems.append(
                        doc.problem(
                            at,
                            f"certificate {cert.id!r} is a table in (RH, temperature): set "
                            "probe_temperature_channel to the channel that measures the "
                            "probe's temperature",
                        )
                    )
    return problems
