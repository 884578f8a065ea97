"""Run a simulated chamber and its logger(s) behind real transports: Modbus TCP and RTU on a pty."""

from __future__ import annotations

import json
import os
from pathlib import Path

from loggerd_protocol.profile_loader import resolve_profile

from .ascii_server import AsciiPtyServer
from .chamber import Chamber
from .faults import FaultPlan
from .logger import LoggerSettings, Retained, SimClock, SimulatedLogger
from .modbus_server import ModbusRtuPtyServer, ModbusTcpServer, RegisterDevice
from .options import SimOptions
from .profile import builtin_profile, load_profile
from .profile_device import ProfileDevice

STATE_FORMAT = 1


class SimulatorHost:
    """One chamber; one logger per address, all reachable over every transport started.

    `options.speed` runs the chamber's programme fast; the loggers keep the time of `clock`
    (real time unless a test or `options.clock_speed` says otherwise). With
    `options.state_file` the loggers are powered up with the memories and clocks a previous
    run left there (`restored`: address -> records), and leave theirs there at stop().
    """

    def __init__(self, options: SimOptions, clock: SimClock | None = None) -> None:
        self.options = options
        profile = load_profile(options.profile) if options.profile else builtin_profile()
        self.profile = profile
        self.clock = clock or SimClock(speed=options.clock_speed)
        self.loggers: dict[int, SimulatedLogger] = {}
        for i, address in enumerate(options.addresses):
            settings = options.logger_settings.get(address) or LoggerSettings(
                address=address,
                serial_number=16000001 + i,
                channel_count=options.channel_count,
                interval_s=options.interval_s,
                capacity=options.capacity,
                clock_offset_s=options.clock_offset_s,
                clock_drift_ppm=options.clock_drift_ppm,
            )
            chamber = Chamber(
                profile,
                channel_count=settings.channel_count,
                seed=options.seed + i,
                speed=options.speed,
            )
            self.loggers[address] = SimulatedLogger(chamber, self.clock, settings)
        self.devices: dict[int, ProfileDevice] = {}
        for i, (address, name) in enumerate(sorted(options.profile_devices.items())):
            if address in self.loggers:
                raise ValueError(f"address {address} is taken by a simulated logger")
            chamber = Chamber(profile, seed=options.seed + 100 + i, speed=options.speed)
            self.devices[address] = ProfileDevice(resolve_profile(name), chamber, self.clock)
        self._served: dict[int, RegisterDevice] = {**self.loggers, **self.devices}
        self.faults = FaultPlan(options.faults, seed=options.fault_seed) if options.faults else None
        self.tcp: ModbusTcpServer | None = None
        self.rtu: ModbusRtuPtyServer | None = None
        self.ascii: dict[int, AsciiPtyServer] = {}
        self.restored: dict[int, int] = {}
        if options.state_file is not None:
            self.restored = self._power_up(options.state_file)

    def _power_up(self, path: Path) -> dict[int, int]:
        """Resume each logger whose serial number the file holds a memory of; the file is
        removed, so that a run that ends without stop() never leaves a stale memory behind."""
        try:
            text = path.read_text("utf-8")
        except FileNotFoundError:
            return {}
        try:
            doc = json.loads(text)
            if doc.get("format") != STATE_FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, not {STATE_FORMAT}")
            kept = {int(a): Retained.from_json(m) for a, m in doc["loggers"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(
                f"{path}: not a simulator state file ({exc}); remove it to start with new memories"
            ) from None
        restored = {}
        for address, logger in self.loggers.items():
            memory = kept.get(address)
            if memory is not None and memory.serial_number == logger.settings.serial_number:
                logger.resume(memory)
                restored[address] = len(logger.memory)
        path.unlink()
        return restored

    def save_state(self, path: Path) -> None:
        """Write every logger's memory and clock to `path` (replaced whole, never half)."""
        doc = {
            "format": STATE_FORMAT,
            "loggers": {str(a): lg.retained().as_json() for a, lg in self.loggers.items()},
        }
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(doc), "utf-8")
        os.replace(partial, path)

    async def start(self) -> None:
        if self.options.tcp:
            self.tcp = ModbusTcpServer(
                self._served, self.options.host, self.options.tcp_port, faults=self.faults
            )
            await self.tcp.start()
        if self.options.rtu:
            self.rtu = ModbusRtuPtyServer(
                self._served,
                self.options.baudrate,
                turnaround_s=self.options.turnaround_s,
                emulate_timing=self.options.emulate_timing,
                faults=self.faults,
                link=self.options.rtu_link,
                # start + 8 data + parity + stop, as loggerd's master counts them
                bits_per_character=1 + 8 + (self.options.parity != "N") + self.options.stopbits,
            )
            await self.rtu.start()

        if self.options.ascii:
            for address, logger in self.loggers.items():
                # RS-232 is point to point: one pty per logger. Continuous output (CONT 1)
                # is pushed as simulated time passes, checked ten times a second.
                server = AsciiPtyServer(logger, wake_every_s=0.1)
                await server.start()
                self.ascii[address] = server

    async def stop(self) -> None:
        for server in self.ascii.values():
            await server.stop()
        self.ascii.clear()
        if self.tcp is not None:
            await self.tcp.stop()
        if self.rtu is not None:
            await self.rtu.stop()
        if self.options.state_file is not None:
            self.save_state(self.options.state_file)

    def endpoints(self) -> dict[str, str]:
        out = {}
        if self.tcp is not None:
            out["modbus-tcp"] = self.tcp.url
        if self.rtu is not None:
            out["modbus-rtu"] = self.rtu.url
        for address, server in self.ascii.items():
            out[f"ascii-rs232 (logger {address})"] = server.url
        return out


__all__ = ["SimOptions", "SimulatorHost"]
