"""Driver for any Modbus RTU or TCP device described by a profile (loggerd_protocol.profile_model):
a built-in profile by name (loggerd_protocol/profiles/NAME.toml) or a profile file by path."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from typing import ClassVar, Literal, Self

from pydantic import Field as PydanticField
from pydantic import field_validator, model_validator

from loggerd.core.errors import ProtocolError
from loggerd.core.samples import Quality, Reading
from loggerd.drivers.base import DeviceInfo, Driver, DriverConfig, PointInfo
from loggerd.drivers.modbus_config import ModbusDeviceConfig, opening
from loggerd.link.lines import LinePool
from loggerd.modbus.lines import modbus_master
from loggerd_protocol import modbus as mb
from loggerd_protocol.planner import ReadRequest, Span, plan_reads
from loggerd_protocol.profile_loader import resolve_profile
from loggerd_protocol.profile_model import (
    Decoded,
    IdentityItem,
    Point,
    Profile,
    decode_identity,
    decode_point,
    implausible_by_order,
    in_range,
)
from loggerd_protocol.registers import ORDERS, Function, Order, decode_registers

WordOrderSetting = Literal["auto", "ABCD", "CDAB", "BADC", "DCBA"]


class ProfileModbusConfig(ModbusDeviceConfig):
    path_fields: ClassVar[tuple[str, ...]] = ("profile",)

    profile: str = PydanticField(
        min_length=1,
        description="a built-in profile (reference_logger, vaisala_hmt330, …) or the path of a "
        "profile TOML file",
    )
    max_span: int | None = PydanticField(
        default=None,
        ge=1,
        le=mb.MAX_READ_REGISTERS,
        description="registers per read request; the profile's workarounds.max_span when absent",
    )
    word_order: WordOrderSetting = PydanticField(
        default="auto",
        description="auto: detect it from the profile's word-order test register, or take the "
        "profile's order when it has none; or the order this device uses (a gateway or a device "
        "setting may differ from the datasheet)",
    )

    @field_validator("profile")
    @classmethod
    def _profile_loads(cls, value: str) -> str:
        resolve_profile(value)  # a ProfileError names the profile file, line, row and key
        return value

    @model_validator(mode="after")
    def _max_span_fits(self) -> Self:
        if self.max_span is not None:
            largest = resolve_profile(self.profile).largest_span()
            if self.max_span < largest:
                raise ValueError(
                    f"max_span {self.max_span} is less than the {largest} registers of the "
                    "largest value in the profile"
                )
        return self


def _function_code(function: Function) -> int:
    return mb.READ_HOLDING if function == "holding" else mb.READ_INPUT


def _reading(point: Point, decoded: Decoded, faulty: bool) -> Reading:
    """Missing is missing: a sentinel, a NaN or a status fault is SENSOR_FAULT and a value out
    of the row's range OUT_OF_RANGE, both with a NaN value and what came kept as raw_value."""
    if decoded.unavailable or faulty:
        quality = Quality.SENSOR_FAULT
    elif not in_range(point, decoded):
        quality = Quality.OUT_OF_RANGE
    else:
        quality = Quality.GOOD
    value = decoded.value if quality is Quality.GOOD else float("nan")
    return Reading(point.name, value, decoded.value, quality)


class ProfileModbusDriver(Driver):
    """Reads the points of a profile in as few transactions as its register map allows.

    open() settles the word order (see `_settle_word_order`) and reads the identity rows;
    read(groups) reads the points of the groups due, with the status rows that qualify them.
    """

    config_model = ProfileModbusConfig
    config: ProfileModbusConfig

    def __init__(self, config: ProfileModbusConfig, lines: LinePool) -> None:
        super().__init__(config, lines)
        self.profile: Profile = resolve_profile(config.profile)
        self.master = modbus_master(self.lines, config.url, config.line_settings())
        self.max_span = config.max_span or self.profile.workarounds.max_span
        order = self.profile.order if config.word_order == "auto" else config.word_order
        self._device = self.profile.with_order(order)  # the profile as this device speaks it
        self._plans: dict[frozenset[str] | None, tuple[tuple[Point, ...], tuple[ReadRequest, ...]]]
        self._plans = {}
        self._next_request_at = 0.0

    @property
    def description(self) -> str:
        return f"{self.profile.name} address {self.config.address} on {self.master.description}"

    @property
    def word_order(self) -> Order:
        """The order this device's values are read in (settled by open())."""
        return self._device.order

    @classmethod
    def points_for(cls, config: DriverConfig) -> Sequence[PointInfo]:
        assert isinstance(config, ProfileModbusConfig)
        return [
            PointInfo(p.name, p.quantity, p.unit) for p in resolve_profile(config.profile).points
        ]

    def poll_groups(self) -> Mapping[str, float | None]:
        return self.profile.poll_intervals()

    def plan(self, groups: Collection[str] | None = None) -> tuple[ReadRequest, ...]:
        """The read requests one read(groups) makes."""
        return self._planned(groups)[1]

    def _planned(
        self, groups: Collection[str] | None
    ) -> tuple[tuple[Point, ...], tuple[ReadRequest, ...]]:
        key = frozenset(groups) if groups is not None else None
        found = self._plans.get(key)
        if found is None:
            points = self._device.points_to_read(groups)
            found = (points, self._device.plan(points, self.max_span))
            self._plans[key] = found
        return found

    def _read(self, function: Function, address: int, count: int) -> tuple[int, ...]:
        interval = self.profile.workarounds.min_request_interval_s
        if interval:
            wait = self._next_request_at - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # a device that needs a pause between requests (workaround)
        try:
            return self.master.read_registers(
                self.config.address, _function_code(function), address, count, self.config.timeout_s
            )
        finally:
            if interval:
                self._next_request_at = time.monotonic() + interval

    # --- open -----------------------------------------------------------------------------------

    def open(self) -> DeviceInfo:
        with opening(self.profile.name, self.config.address):
            self._settle_word_order()
            return self._identify()

    def _settle_word_order(self) -> None:
        """Make sure values are read in the device's word order before any is passed on.

        With a word-order test register: under word_order "auto" take the order in which it
        holds its known value; under an explicit order check that it does. Without one, read
        the points once and check that the order in use does not put values out of range that
        another order puts all in range. Either way a device that disagrees is a ProtocolError
        that says what was read, never values read in a wrong order.
        """
        test = self.profile.word_order_test
        if test is None:
            self._check_plausible_order()
            return
        words = self._read(test.function, test.address, test.words)
        matching = test.orders_matching(words)
        wanted = self.config.word_order
        if wanted == "auto" and matching:
            order = self.profile.order if self.profile.order in matching else matching[0]
        elif wanted != "auto" and wanted in matching:
            order = wanted
        else:
            read_as = ", ".join(f"{decode_registers(words, test.type, o)!r} in {o}" for o in ORDERS)
            found = (
                f"that is the expected value in {', '.join(matching)} only"
                if matching
                else f"none is the expected {test.expected!r}"
            )
            asked = "" if wanted == "auto" else f"word_order is set to {wanted}, but "
            raise ProtocolError(
                f"{self.description}: {asked}the word-order test register ({test.function} "
                f"register at PDU address {test.address}, {test.type}) read "
                f"{' '.join(f'0x{w:04X}' for w in words)}, which is {read_as}: {found}. "
                "Check the device address, the profile and the device's word-order setting"
            )
        if order != self._device.order:
            self._device = self.profile.with_order(order)
            self._plans.clear()

    def _check_plausible_order(self) -> None:
        points, requests = self._planned(None)
        implausible = implausible_by_order(points, self._read_words(requests))
        current = self._device.order
        clean = [o for o in ORDERS if not implausible[o]]
        if not implausible[current] or not clean:
            return
        bad = implausible[current]
        whose = "the configured" if self.config.word_order != "auto" else "the profile's"
        raise ProtocolError(
            f"{self.description}: read in {current} ({whose} word order), "
            f"{len(bad)} values are out of range ({', '.join(bad)}), while in "
            f"{' and '.join(clean)} every value is plausible. The device or a gateway orders "
            f'words or bytes differently: set word_order = "{clean[0]}" if that is so'
        )

    def _identify(self) -> DeviceInfo:
        items = self._device.identity
        texts: dict[str, str] = {}
        if items:
            by_name: dict[str, IdentityItem] = {i.field: i for i in items}
            spans = (Span(i.function, i.address, i.words, i.field) for i in items)
            for request in plan_reads(
                spans,
                max_span=self.max_span,
                gap_fill=self.profile.workarounds.gap_fill_allowed,
                blocks=self.profile.blocks,
            ):
                block = self._read(request.function, request.address, request.count)
                for name in request.names:
                    item = by_name[name]
                    words = block[item.address - request.address : item.end - request.address]
                    texts[name] = decode_identity(item, words)
        count = texts.get("channel_count")
        return DeviceInfo(
            model=texts.get("model") or self.profile.device.model,
            serial_number=texts.get("serial_number", ""),
            firmware_version=texts.get("firmware_version", ""),
            channel_count=int(count) if count else len(self.profile.measurement_points()),
            calibration_date=texts.get("calibration_date"),
        )

    # --- read -----------------------------------------------------------------------------------

    def _read_words(self, requests: Sequence[ReadRequest]) -> dict[str, tuple[int, ...]]:
        """Each point's registers, from one transaction per request."""
        words: dict[str, tuple[int, ...]] = {}
        for request in requests:
            block = self._read(request.function, request.address, request.count)
            for name in request.names:
                p = self._device.point(name)
                words[name] = block[p.address - request.address : p.end - request.address]
        return words

    def read(self, groups: Collection[str] | None = None) -> list[Reading]:
        points, requests = self._planned(groups)
        words = self._read_words(requests)
        decoded = {p.name: decode_point(p, words[p.name]) for p in points}
        faulty: set[str] = set()
        for p in points:
            d = decoded[p.name]
            # A status that is itself unavailable cannot vouch for what it covers.
            if p.flags is not None and (d.unavailable or p.flags.is_fault(int(d.raw))):
                faulty |= p.flags.covers
        return [_reading(p, decoded[p.name], p.name in faulty) for p in points]

    def close(self) -> None:
        # The line is shared with the other devices on it; the line pool closes it.
        pass
