"""The daemon's TOML configuration: chambers, their devices and channels, validated once at start.

Every error names the file, the key (with the chamber and device ids) and what is expected.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loggerd.core.errors import ConfigError, DriverLoadError
from loggerd.drivers.base import DriverConfig
from loggerd.drivers.registry import load_driver
from loggerd.processing.humidity import Formulation
from loggerd.processing.pipeline import DerivedQuantity

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
    def _unique_ids(self) -> ChamberConfig:
        _no_duplicates([d.id for d in self.devices], "device id")
        measured = [c.id for d in self.devices for c in d.channels]
        _no_duplicates(measured + [d.id for d in self.derived], "channel id")
        known = set(measured)
        for d in self.derived:
            for key in ("temperature", "rh", "pressure", "check"):
                ref = getattr(d, key)
                if ref is not None and ref not in known:
                    raise ValueError(
                        f"derived channel {d.id!r}: {key} = {ref!r} is not a measured channel "
                        f"of chamber {self.id!r} (its channels: {', '.join(measured)})"
                    )
        for c in (c for dev in self.devices for c in dev.channels):
            ref = c.probe_temperature_channel
            if ref is not None and ref not in known:
                raise ValueError(
                    f"channel {c.id!r}: probe_temperature_channel = {ref!r} is not a channel "
                    f"of chamber {self.id!r}"
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
        return self


class ApiConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class DaemonConfig(_Strict):
    data_dir: Path = Path("loggerd-data")
    ring_size: int = Field(default=3600, ge=10, le=10_000_000, description="samples per channel")
    api: ApiConfig = ApiConfig()
    store: StoreConfig = StoreConfig()
    chambers: list[ChamberConfig] = Field(alias="chamber", min_length=1)

    @field_validator("chambers")
    @classmethod
    def _unique_chambers(cls, chambers: list[ChamberConfig]) -> list[ChamberConfig]:
        _no_duplicates([c.id for c in chambers], "chamber id")
        _no_duplicates([d.id for c in chambers for d in c.devices], "device id")
        return chambers


def _no_duplicates(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"duplicate {what} {i!r}")
        seen.add(i)


def _key_path(doc: Any, loc: tuple[int | str, ...]) -> str:
    """A readable key path: chamber[0] (id 'c1').device[1] (id 'logger2').address"""
    parts: list[str] = []
    node = doc
    for item in loc:
        if isinstance(item, int):
            ident = (
                node[item].get("id")
                if isinstance(node, list) and isinstance(node[item], dict)
                else None
            )
            parts[-1] += f"[{item}]" + (f" (id {ident!r})" if ident else "")
        else:
            parts.append(str(item))
        try:
            node = node[item]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts) or "(top level)"


def _line_of(text: str, key: str, value: object = None) -> int | None:
    """Line of `key = value` (or of the first `key =` when the value is not found)."""
    patterns = [rf"^\s*{re.escape(key)}\s*="]
    if isinstance(value, str):
        patterns.insert(0, patterns[0] + rf"\s*[\"']{re.escape(value)}[\"']")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        patterns.insert(0, patterns[0] + rf"\s*{re.escape(str(value))}\b")
    for pattern in patterns:
        m = re.search(pattern, text, re.MULTILINE)
        if m:
            return text.count("\n", 0, m.start()) + 1
    return None


def _format(source: str, text: str, doc: Any, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = _key_path(doc, loc)
        last = next((str(x) for x in reversed(loc) if isinstance(x, str)), None)
        line = _line_of(text, last, err.get("input")) if last and err["type"] != "missing" else None
        where = f"{source}:{line}" if line else source
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see deploy/*.toml for the keys)"
        elif "input" in err and err["type"] != "missing":
            msg += f" (got {err['input']!r})"
        lines.append(f"{where}: {key}: {msg}")
    return "\n".join(lines)


def _resolve_driver_paths(doc: Any, base_dir: Path) -> None:
    """Make the file paths in drivers' settings (their `path_fields`) relative to base_dir."""
    chambers = doc.get("chamber") if isinstance(doc, dict) else None
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
    """Parse and validate a configuration, including each device's driver settings.

    Relative file paths in driver settings are taken relative to `base_dir` (the directory of
    the configuration file) when it is given. With devices=False (a process that polls
    nothing: an API replica) drivers are neither loaded nor asked to check their settings.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    if base_dir is not None and devices:
        _resolve_driver_paths(doc, base_dir)
    try:
        config = DaemonConfig.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(_format(source, text, doc, exc)) from None
    if not devices:
        return config
    for ci, chamber in enumerate(config.chambers):
        for di, device in enumerate(chamber.devices):
            where = f"chamber[{ci}] (id {chamber.id!r}).device[{di}] (id {device.id!r})"
            driver_settings(device, source, text, where)
    return config


def driver_settings(device: DeviceConfig, source: str, text: str, where: str) -> DriverConfig:
    try:
        driver = load_driver(device.driver)
    except DriverLoadError as exc:
        line = _line_of(text, "driver", device.driver)
        raise ConfigError(f"{source}{f':{line}' if line else ''}: {where}.driver: {exc}") from None
    try:
        settings = driver.config_model.model_validate(device.driver_settings())
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            key = ".".join(str(x) for x in err["loc"])
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = f"unknown key for driver {device.driver!r}"
            elif err["type"] != "missing":
                msg += f" (got {err['input']!r})"
            line = _line_of(text, key, err.get("input")) if err["type"] != "missing" else None
            msgs.append(f"{source}{f':{line}' if line else ''}: {where}.{key}: {msg}")
        raise ConfigError("\n".join(msgs)) from None
    offered = {p.name for p in driver.points_for(settings)}
    for i, channel in enumerate(device.channels):
        if channel.point not in offered:
            line = _line_of(text, "point", channel.point)
            raise ConfigError(
                f"{source}{f':{line}' if line else ''}: {where}.channel[{i}] (id {channel.id!r})"
                f".point: {channel.point!r} is not a point of driver {device.driver!r}; "
                f"expected one of {', '.join(sorted(offered))}"
            )
    return settings


def load_config(path: str | Path, devices: bool = True) -> DaemonConfig:
    """Read and validate a configuration file; devices=False: see parse_config."""
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the configuration file: {exc.strerror}") from None
    # Relative paths are relative to the configuration file, not to the working directory.
    config = parse_config(text, str(p), base_dir=p.parent, devices=devices)
    if not config.data_dir.is_absolute():
        config = config.model_copy(update={"data_dir": (p.parent / config.data_dir).resolve()})
    chambers = []
    for chamber in config.chambers:
        device_configs = []
        for device in chamber.devices:
            channels = []
            for channel in device.channels:
                cert = channel.certificate
                if cert is not None and not cert.is_absolute():
                    channel = channel.model_copy(update={"certificate": (p.parent / cert)})
                channels.append(channel)
            device_configs.append(device.model_copy(update={"channels": channels}))
        chambers.append(chamber.model_copy(update={"devices": device_configs}))
    config = config.model_copy(update={"chambers": chambers})
    if devices:
        check_certificates(config, str(p), text)
    return config


def check_certificates(config: DaemonConfig, source: str, text: str) -> None:
    """Load every channel's certificate once, so that a bad one stops the start-up."""
    from loggerd.processing.calibration import CertificateError, load_certificate

    for chamber in config.chambers:
        for device in chamber.devices:
            for channel in device.channels:
                if channel.certificate is None:
                    continue
                line = _line_of(text, "certificate")
                where = f"{source}{f':{line}' if line else ''}"
                try:
                    cert = load_certificate(channel.certificate)
                except (CertificateError, OSError) as exc:
                    raise ConfigError(
                        f"{where}: chamber {chamber.id!r} channel {channel.id!r}: certificate "
                        f"{channel.certificate}: {exc}"
                    ) from None
                if cert.rows is not None and channel.probe_temperature_channel is None:
                    raise ConfigError(
                        f"{where}: chamber {chamber.id!r} channel {channel.id!r}: certificate "
                        f"{cert.id!r} is a table in (RH, temperature): set "
                        "probe_temperature_channel to the channel that measures the probe's "
                        "temperature"
                    )
