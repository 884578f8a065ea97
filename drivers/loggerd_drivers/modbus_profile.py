"""Driver for any Modbus RTU or TCP device described by a profile (loggerd_protocol.profile_model):
a built-in profile by name (loggerd_protocol/profiles/NAME.toml) or a profile file by path."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import ClassVar, Literal, Self

from pydantic import Field as PydanticField
from pydantic import field_validator, model_validator

from loggerd.core.errors import DeviceException, ProtocolError
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

log = logging.getLogger(__name__)

WordOrderSetting = Literal["auto", "ABCD", "CDAB", "BADC", "DCBA"]
ILLEGAL_DATA_ADDRESS = 2  # Modbus exception 02


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
    """A status row reporting a fault is SENSOR_FAULT; a value the device says it does not
    have (a sentinel, a NaN) is MISSING, not a fault of any sensor; a value out of the row's
    range is OUT_OF_RANGE. Each with a NaN value and what came kept as raw_value."""
    if faulty:
        quality = Quality.SENSOR_FAULT
    elif decoded.unavailable:
        quality = Quality.MISSING
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
        # Requests read across registers no row defines that this device refused (exception
        # 02), and the requests that read the values apart instead: asked for once, not again.
        self._split: dict[ReadRequest, tuple[ReadRequest, ...]] = {}
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
            planned = self._device.plan(points, self.max_span)
            found = (points, tuple(part for r in planned for part in self._split.get(r, (r,))))
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
        implausible = implausible_by_order(points, self._read_words(requests, _by_name(points)))
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
            requests = plan_reads(
                (Span(i.function, i.address, i.words, i.field) for i in items),
                max_span=self.max_span,
                gap_fill=self.profile.workarounds.gap_fill_allowed,
                blocks=self.profile.blocks,
            )
            for name, words in self._read_words(requests, by_name).items():
                texts[name] = decode_identity(by_name[name], words)
        count = texts.get("channel_count")
        return DeviceInfo(
            model=texts.get("model") or self.profile.device.model,
            serial_number=texts.get("serial_number", ""),
            firmware_version=texts.get("firmware_version", ""),
            channel_count=int(count) if count else len(self.profile.measurement_points()),
            calibration_date=texts.get("calibration_date"),
        )

    # --- read -----------------------------------------------------------------------------------

    def _read_words(
        self, requests: Sequence[ReadRequest], items: Mapping[str, Point | IdentityItem]
    ) -> dict[str, tuple[int, ...]]:
        """Each item's registers, from one transaction per request (requests this device
        refused across a gap: one per part, see _read_apart)."""
        words: dict[str, tuple[int, ...]] = {}
        for request in requests:
            for part in self._split.get(request, (request,)):
                try:
                    block = self._read(part.function, part.address, part.count)
                except DeviceException as exc:
                    if exc.code != ILLEGAL_DATA_ADDRESS or not self._read_apart(part, items):
                        raise
                    words |= self._read_words(self._split[part], items)
                    continue
                for name in part.names:
                    x = items[name]
                    words[name] = block[x.address - part.address : x.end - part.address]
        return words

    def _read_apart(self, request: ReadRequest, items: Mapping[str, Point | IdentityItem]) -> bool:
        """After exception 02 to a request that reads registers no row defines: remember to
        read its values apart from now on, and say so once. False when there is no such gap
        (the refusal is then about registers the profile does define)."""
        spans = [
            Span(request.function, items[n].address, items[n].end - items[n].address, n)
            for n in request.names
        ]
        parts = plan_reads(
            spans, max_span=self.max_span, gap_fill=False, blocks=self.profile.blocks
        )
        if len(parts) < 2:
            return False
        self._split[request] = parts
        self._plans.clear()
        defined = {a for p in parts for a in range(p.address, p.end)}
        gap = sorted(set(range(request.address, request.end)) - defined)
        log.warning(
            "%s: exception 02 to a read of %s registers %s, across %s, which no row of the "
            "profile defines: reading %s apart from now on",
            self.description,
            request.function,
            _addresses(range(request.address, request.end)),
            _addresses(gap),
            ", ".join(_addresses(range(p.address, p.end)) for p in parts),
        )
        return True

    def read(self, groups: Collection[str] | None = None) -> list[Reading]:
        points, requests = self._planned(groups)
        words = self._read_words(requests, _by_name(points))
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


def _by_name(points: Sequence[Point]) -> dict[str, Point]:
    return {p.name: p for p in points}


def _addresses(addresses: Iterable[int]) -> str:
    """Register addresses as runs: "514", "4–5, 10–13"."""
    runs: list[list[int]] = []
    for a in addresses:
        if runs and runs[-1][1] == a - 1:
            runs[-1][1] = a
        else:
            runs.append([a, a])
    return ", ".join(str(lo) if lo == hi else f"{lo}–{hi}" for lo, hi in runs)
