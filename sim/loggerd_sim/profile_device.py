"""A simulated Modbus device built from a device profile (loggerd_protocol.profile_model): the same
register map the driver reads, never a copy of it, with values from a simulated chamber.

What the device answers follows the profile: values in its word order (or the order it is told
to use, to play a device configured differently), "unavailable" as the row's sentinel, status
rows saying "fault" when a fault is set, exception 02 outside the declared blocks and, when
the profile says gaps are not readable, for any register no row defines. It is stricter than
most devices in one respect, on purpose: a read that splits a value is exception 02 too, so
that a planner that splits one is caught.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from loggerd.processing import humidity
from loggerd_protocol.definition import Table
from loggerd_protocol.modbus import MAX_READ_REGISTERS
from loggerd_protocol.profile_document import IdentityField
from loggerd_protocol.profile_model import (
    IdentityItem,
    Point,
    Profile,
    WordOrderTest,
    encode_identity,
    encode_point,
    unavailable_raw,
)
from loggerd_protocol.registers import Order

from .chamber import Chamber, ChamberState
from .logger import ILLEGAL_ADDRESS, ILLEGAL_VALUE, RegisterError, SimClock

__all__ = ["ProfileDevice"]

KELVIN_OFFSET_K = 273.15
MOLAR_MASS_WATER_G_PER_MOL = 18.01528
MOLAR_GAS_CONSTANT_J_PER_MOL_K = 8.314462618
DEVICE_FAILURE = 4  # Modbus exception 04: server device failure
MIXING_RATIO_G_PER_KG = 621.98  # 1000 M_w / M_dry air, as Vaisala's formulas write it

Derived = Callable[[float, float, float], float]  # (temperature_c, rh_pct, pressure_hpa) -> value


def _vapour_pressure_pa(temperature_c: float, rh_pct: float) -> float:
    return rh_pct / 100.0 * float(humidity.saturation_vapour_pressure_pa(temperature_c))


def _ppmv(temperature_c: float, rh_pct: float, pressure_hpa: float) -> float:
    e = _vapour_pressure_pa(temperature_c, rh_pct)
    return 1e6 * e / (100.0 * pressure_hpa - e)


def _mixing_ratio(temperature_c: float, rh_pct: float, pressure_hpa: float) -> float:
    e = _vapour_pressure_pa(temperature_c, rh_pct)
    return MIXING_RATIO_G_PER_KG * e / (100.0 * pressure_hpa - e)


def _absolute_humidity(temperature_c: float, rh_pct: float, pressure_hpa: float) -> float:
    e = _vapour_pressure_pa(temperature_c, rh_pct)
    t_k = temperature_c + KELVIN_OFFSET_K
    return e * MOLAR_MASS_WATER_G_PER_MOL / (MOLAR_GAS_CONSTANT_J_PER_MOL_K * t_k)


def _from_humidity(name: str, fallback: Derived) -> Derived:
    """loggerd.humidity's own function where it has one (it is growing: ppmv, mixing ratio…),
    else the plain formula without the enhancement factor."""
    found = getattr(humidity, name, None)
    if callable(found):
        return lambda t, rh, p: float(found(t, rh, p))
    return fallback


DERIVED: dict[str, Derived] = {
    "ppmv": _from_humidity("ppmv", _ppmv),
    "mixing_ratio": _from_humidity("mixing_ratio_g_per_kg", _mixing_ratio),
    "absolute_humidity": _from_humidity("absolute_humidity_g_m3", _absolute_humidity),
    "dew_point": lambda t, rh, p: float(humidity.dew_point_c(t, rh)),
    "vapour_pressure": lambda t, rh, p: _vapour_pressure_pa(t, rh) / 100.0,
    "saturation_vapour_pressure": lambda t, rh, p: (
        float(humidity.saturation_vapour_pressure_pa(t)) / 100.0
    ),
}


@dataclass(frozen=True)
class _Item:
    """Something at a place in the map: a point, an identity value or the test register."""

    address: int
    end: int
    what: Point | IdentityItem | WordOrderTest


class ProfileDevice:
    """A RegisterDevice (see modbus_server) for any profile; serve it with ModbusTcpServer or
    ModbusRtuPtyServer like a simulated logger.

    Quantities come from the chamber's air: temperature, relative_humidity, frost_point (the
    Td/f), dew_point, ppmv, mixing_ratio, absolute_humidity, vapour_pressure and
    saturation_vapour_pressure; any other quantity reads as unavailable, as a transmitter not
    configured for it does. Tests steer the device through `unavailable` (points that answer
    "unavailable"), `device_fault` (status rows report a fault), `overrides` (a point's
    value in its unit instead of the chamber's) and `gaps_readable`; `reads` records every read
    answered.
    """

    def __init__(
        self,
        profile: Profile,
        chamber: Chamber,
        clock: SimClock,
        *,
        word_order: Order | None = None,
        pressure_hpa: float = 1013.25,
        identity: Mapping[IdentityField, str | int] | None = None,
        gaps_readable: bool | None = None,
    ) -> None:
        self.profile = profile.with_order(word_order) if word_order is not None else profile
        # Whether registers no row defines may be read inside a block: as the profile says, or
        # not, as a transmitter whose firmware refuses them where its datasheet allows them.
        self.gaps_readable = (
            profile.workarounds.gap_fill_allowed if gaps_readable is None else gaps_readable
        )
        self.chamber = chamber
        self.clock = clock
        self.pressure_hpa = pressure_hpa
        self.unavailable: set[str] = set()
        self.device_fault = False
        self.overrides: dict[str, float] = {}
        self.reads: list[tuple[Table, int, int]] = []
        self.identity: dict[IdentityField, str | int] = {
            "model": profile.device.model,
            "serial_number": 1,
            "firmware_version": "1.0",
            "channel_count": len(profile.measurement_points()),
            "calibration_date": 20260101,
        }
        self.identity.update(identity or {})
        self.state: ChamberState = chamber.advance_to(0.0)
        items: list[_Item] = [_Item(p.address, p.end, p) for p in self.profile.points]
        items += [_Item(i.address, i.end, i) for i in self.profile.identity]
        test = self.profile.word_order_test
        if test is not None:
            items.append(_Item(test.address, test.end, test))
        self._items: dict[Table, list[_Item]] = {
            table: sorted((x for x in items if x.what.function == table), key=lambda x: x.address)
            for table in ("input", "holding")
        }

    @property
    def word_order(self) -> Order:
        return self.profile.order

    def make_unavailable(self, names: Iterable[str]) -> None:
        """These points answer "unavailable" (their sentinel) from now on."""
        for name in names:
            unavailable_raw(self.profile.point(name))  # raises if the row has no way to say it
            self.unavailable.add(name)

    # --- values -------------------------------------------------------------------------------

    def sync(self) -> None:
        """Bring the chamber to the simulated present (whole seconds, as a transmitter updates)."""
        self.state = self.chamber.advance_to(math.floor(self.clock.elapsed_s()))

    def _measured(self, quantity: str) -> float:
        s = self.state
        t, rh = s.air_temperature_c, s.rh_pct
        if quantity == "temperature":
            return t
        if quantity == "relative_humidity":
            return rh
        if quantity == "frost_point":
            return s.frost_point_c
        derive = DERIVED.get(quantity)
        if derive is None:
            return math.nan
        try:
            return derive(t, rh, self.pressure_hpa)
        except ValueError:  # HumidityRangeError: outside the formulation, no value
            return math.nan

    def _status(self, point: Point) -> float:
        if point.flags is None:
            return 0.0
        return float(point.flags.raw_for(self.device_fault))

    def point_values(self) -> dict[str, float]:
        """What each point reads now, in its unit; NaN where the device has no value."""
        values: dict[str, float] = {}
        for p in self.profile.points:
            if p.name in self.overrides:
                value = self.overrides[p.name]
            elif p.is_status:
                value = self._status(p)
            else:
                value = self._measured(p.quantity)
            values[p.name] = math.nan if p.name in self.unavailable else value
        return values

    # --- registers ----------------------------------------------------------------------------

    def _check(self, table: Table, address: int, count: int) -> list[_Item]:
        if not 1 <= count <= MAX_READ_REGISTERS:
            raise RegisterError(ILLEGAL_VALUE, f"count {count} outside 1..{MAX_READ_REGISTERS}")
        end = address + count
        blocks = [b for b in self.profile.blocks if b.function == table]
        if self.profile.blocks and not any(b.contains(table, address, end) for b in blocks):
            raise RegisterError(
                ILLEGAL_ADDRESS, f"{table} registers {address}+{count} are not in one block"
            )
        touched = [x for x in self._items[table] if x.address < end and x.end > address]
        for x in touched:
            if x.address < address or x.end > end:
                raise RegisterError(ILLEGAL_ADDRESS, f"{table} {address}+{count} splits a value")
        if not self.gaps_readable:
            defined = set().union(*(range(x.address, x.end) for x in touched)) if touched else set()
            if len(defined) != count:
                raise RegisterError(
                    ILLEGAL_ADDRESS, f"{table} {address}+{count} reads undefined registers"
                )
        return touched

    def read_registers(self, table: Table, address: int, count: int) -> tuple[int, ...]:
        touched = self._check(table, address, count)
        self.reads.append((table, address, count))
        self.sync()
        values = self.point_values()
        words = [0] * count
        for x in touched:
            what = x.what
            try:
                if isinstance(what, Point):
                    encoded = encode_point(what, values[what.name], clamp=True)
                elif isinstance(what, IdentityItem):
                    encoded = encode_identity(what, self.identity[what.field])
                else:
                    encoded = what.registers(self.word_order)
            except ValueError as exc:  # a value set by hand that its registers cannot hold
                raise RegisterError(DEVICE_FAILURE, str(exc)) from exc
            words[x.address - address : x.end - address] = encoded
        return tuple(words)

    def write_registers(self, address: int, words: tuple[int, ...]) -> None:
        raise RegisterError(
            ILLEGAL_ADDRESS,
            f"holding {address}+{len(words)}: the simulated {self.profile.name} has no "
            "writable registers",
        )
