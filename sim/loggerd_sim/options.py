"""The simulator's options, declared once: each field's default, its command-line flag and its
help live here, and `loggerd sim` (loggerd_sim/cli.py) and `loggerd demo` build their flags
from them. A field without a flag (a logger's settings in full) is for code only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loggerd_protocol.definition import reference_logger

if TYPE_CHECKING:  # the command line reads these options before any simulator is built
    from .faults import FaultRates
    from .logger import LoggerSettings


@dataclass(frozen=True)
class Flag:
    """How a field is set from the command line."""

    flag: str
    help: str
    parse: Callable[[Any], Any] | None = None  # its text (a list when repeated); None: a switch
    metavar: str | None = None
    repeat: bool = False  # may be given several times: parse sees the list
    negates: bool = False  # a switch that turns the field off (--no-tcp)
    show: Callable[[Any], str] = str  # the field's default as the flag takes it, for --help


def _flag(flag: str, help: str, **kw: Any) -> dict[str, Flag]:
    return {"flag": Flag(flag, help, **kw)}


def _addresses(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(a) for a in text.split(","))
    except ValueError:
        raise ValueError(f"--addresses {text!r}: expected Modbus addresses like 1,2,3") from None


def _devices(specs: list[str]) -> dict[int, str]:
    devices: dict[int, str] = {}
    for spec in specs:
        address, sep, name = spec.partition("=")
        if not sep or not address.isdigit():
            raise ValueError(
                f"--device {spec!r}: expected ADDRESS=PROFILE, e.g. 240=vaisala_hmt330"
            )
        devices[int(address)] = name
    return devices


def _parity(text: str) -> str:
    if text.upper() not in ("E", "O", "N"):
        raise ValueError(f"--parity {text!r}: expected E, O or N")
    return text.upper()


def _stopbits(text: str) -> int:
    if text not in ("1", "2"):
        raise ValueError(f"--stopbits {text!r}: expected 1 or 2")
    return int(text)


def _faults(text: str) -> FaultRates | None:
    from .faults import FaultRates

    return FaultRates.parse(text) if text else None


@dataclass
class SimOptions:
    profile: Path | None = field(
        default=None,
        metadata=_flag("--profile", "chamber profile TOML (default: cold soak)", parse=Path),
    )
    speed: float = field(
        default=1.0,
        metadata=_flag(
            "--speed",
            "run the chamber's programme this many times as fast; the loggers keep real time "
            "(their clocks and their logging)",
            parse=float,
        ),
    )
    # The loggers' clocks, and so their logging, run this many times as fast as the host's: a
    # stress test only (benchmarks/crash logs ten records a second from a 1 s interval), as
    # loggerd then sees clocks that gain minutes an hour.
    clock_speed: float = 1.0
    seed: int = field(default=0, metadata=_flag("--seed", "the chamber's random seed", parse=int))
    addresses: tuple[int, ...] = field(
        default=(reference_logger().default_address,),
        metadata=_flag(
            "--addresses",
            "comma-separated Modbus addresses",
            parse=_addresses,
            show=lambda a: ",".join(map(str, a)),
        ),
    )
    channel_count: int = field(
        default=8, metadata=_flag("--channels", "temperature channels fitted", parse=int)
    )
    interval_s: int = field(
        default=10, metadata=_flag("--interval", "the loggers' logging interval, s", parse=int)
    )
    capacity: int | None = field(
        default=None,
        metadata=_flag(
            "--capacity",
            "records in each logger's ring memory (default: the map's 100000)",
            parse=int,
        ),
    )
    clock_offset_s: float = field(
        default=0.0,
        metadata=_flag(
            "--clock-offset",
            "the loggers' clocks minus true time at the start, s",
            parse=float,
            metavar="S",
        ),
    )
    clock_drift_ppm: float = field(
        default=0.0,
        metadata=_flag(
            "--clock-drift-ppm",
            "how much faster the loggers' clocks run than true time, ppm",
            parse=float,
            metavar="P",
        ),
    )
    tcp: bool = field(default=True, metadata=_flag("--no-tcp", "serve no Modbus TCP", negates=True))
    rtu: bool = field(default=True, metadata=_flag("--no-rtu", "serve no Modbus RTU", negates=True))
    host: str = field(
        default="127.0.0.1", metadata=_flag("--host", "Modbus TCP address", parse=str)
    )
    tcp_port: int = field(
        default=0, metadata=_flag("--tcp-port", "Modbus TCP port (0: any)", parse=int)
    )
    baudrate: int = field(default=19200, metadata=_flag("--baud", "RTU line speed", parse=int))
    parity: str = field(
        default="E",
        metadata=_flag("--parity", "RTU parity: E, O or N (a character's time)", parse=_parity),
    )
    stopbits: int = field(
        default=1, metadata=_flag("--stopbits", "RTU stop bits: 1 or 2", parse=_stopbits)
    )
    turnaround_s: float = field(
        default=0.002,
        metadata=_flag(
            "--turnaround-ms",
            "the loggers' reply delay after the 3.5-character silence, ms",
            parse=lambda ms: float(ms) / 1000,
            show=lambda s: f"{s * 1000:g}",
        ),
    )
    emulate_timing: bool = field(
        default=True,
        metadata=_flag(
            "--no-wire-timing",
            "answer RTU requests at once instead of at wire speed",
            negates=True,
        ),
    )
    faults: FaultRates | None = field(
        default=None,
        metadata=_flag(
            "--faults",
            "seeded fault rates, e.g. crc=0.05,drop=0.02,late=0.01 "
            "(also garbage, busy, reboot, late_delay_s, reboot_s)",
            parse=_faults,
        ),
    )
    fault_seed: int = field(
        default=0, metadata=_flag("--fault-seed", "the fault plan's random seed", parse=int)
    )
    rtu_link: Path | None = field(
        default=None,
        metadata=_flag(
            "--link", "make a symlink to the RTU pty here (like /dev/serial/by-id/…)", parse=Path
        ),
    )
    state_file: Path | None = field(
        default=None,
        metadata=_flag(
            "--state",
            "keep the simulated loggers' memories and clocks in this file across runs: read "
            "(and removed) at start, written at stop",
            parse=Path,
            metavar="FILE",
        ),
    )
    ascii: bool = field(
        default=False,
        metadata=_flag(
            "--ascii", "also serve each logger's RS-232 ASCII protocol on a pty of its own"
        ),
    )
    # Third-party devices on the same lines, built from a device profile:
    # address -> built-in profile name or a profile TOML path (e.g. {240: "vaisala_hmt330"}).
    profile_devices: dict[int, str] = field(
        default_factory=dict,
        metadata=_flag(
            "--device",
            "a third-party device from a profile on the same lines, e.g. 240=vaisala_hmt330 "
            "(repeat for several)",
            parse=_devices,
            metavar="ADDRESS=PROFILE",
            repeat=True,
        ),
    )
    # A logger's settings in full, in place of those built from the options above.
    logger_settings: dict[int, LoggerSettings] = field(default_factory=dict)
