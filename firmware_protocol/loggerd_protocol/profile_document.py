"""A device profile as written: the TOML document's tables and rows as pydantic models, checked
one row at a time. The rules that span rows (names, groups, blocks, status coverage) are the
resolver's (profile_resolver.py); what the values mean is the model's (profile_model.py).

A profile is one TOML file (see profiles/*.toml for complete examples)::

    [device]
    manufacturer = "Vaisala"
    model = "HMT330"
    datasheet = "HMT330 User's Guide M210566EN-K, Appendix MODBUS reference"

    [defaults]                 # what a row inherits when it does not say
    function = "holding"       # "holding" (read with 03) or "input" (04)
    order = "CDAB"             # ABCD, CDAB, BADC or DCBA (registers.py)
    sentinel = ["nan"]         # raw values meaning "unavailable"

    [workarounds]              # device quirks, not protocol
    max_span = 125             # registers per read request, at most 125
    gap_fill_allowed = true    # may a request read registers that no row defines?
    min_request_interval_s = 0.0

    [[group]]                  # poll groups; interval_s absent: the device's poll interval
    name = "derived"
    interval_s = 60.0

    [[point]]
    name = "rh"
    quantity = "relative_humidity"
    unit = "%RH"
    address = 0                # PDU address: 0-based, as on the wire
    datasheet_number = 1       # optional: the 1-based number the datasheet prints; checked
    type = "float32"
    range = [0.0, 100.0]
    source = "M210566EN-K Table 41: RH, float registers 0001…0002"   # required

Rows may also carry `scale`/`offset` (value = raw * scale + offset), `count`/`stride` (one row
for `name_{n}` n = 1..count), and `flags` (a status row that marks the points it `covers` as
faulty when `fault_unless`/`fault_if`/`fault_mask` says so). `[[identity]]` rows, `[[block]]`
ranges of legal addresses and a `[word_order_test]` register complete the format; every row
cites its datasheet in `source`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .modbus import MAX_READ_REGISTERS
from .registers import Function, Order, ValueType
from .toml_document import TomlDocumentError

IdentityField = Literal[
    "model", "serial_number", "firmware_version", "channel_count", "calibration_date"
]
IdentityFormat = Literal["decimal", "hex", "byte_pair", "text"]

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


class ProfileError(TomlDocumentError):
    """A profile that cannot be used. The message names the file, the line, the row and the key."""


class _Row(BaseModel):
    """A table of the document. Unknown keys are errors: a misspelt key would otherwise leave
    its default in force without a word."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceMeta(_Row):
    manufacturer: str = Field(min_length=1)
    model: str = Field(min_length=1)
    datasheet: str = Field(min_length=1, description="the document the rows cite")
    description: str = ""
    notes: str = ""


class Defaults(_Row):
    function: Function = "holding"
    order: Order = "ABCD"
    sentinel: list[int | float | str] = []
    group: str | None = None


class Workarounds(_Row):
    """Device quirks: what a device needs beyond the protocol."""

    max_span: int = Field(default=MAX_READ_REGISTERS, ge=1, le=MAX_READ_REGISTERS)
    gap_fill_allowed: bool = Field(
        default=False,
        description="a read may cover registers no row defines (inside one declared block, "
        "when the profile declares blocks); false: requests split at every gap",
    )
    min_request_interval_s: float = Field(default=0.0, ge=0.0, le=10.0)


class GroupRow(_Row):
    name: str = Field(pattern=NAME_PATTERN)
    interval_s: float | None = Field(default=None, gt=0)
    description: str = ""


class BlockRow(_Row):
    name: str = Field(min_length=1)
    function: Function | None = None
    first: int = Field(ge=0, le=0xFFFF)
    last: int = Field(ge=0, le=0xFFFF)
    source: str = Field(min_length=1)


class FlagsRow(_Row):
    covers: list[str] = Field(min_length=1)
    fault_unless: int | None = None
    fault_if: int | None = None
    fault_mask: int | None = Field(default=None, ge=1)


class PointRow(_Row):
    name: str = Field(min_length=1)
    quantity: str = Field(min_length=1)
    unit: str
    function: Function | None = None
    address: int = Field(ge=0, le=0xFFFF)
    datasheet_number: int | None = Field(default=None, ge=1, le=0x10000)
    type: ValueType
    order: Order | None = None
    scale: float = 1.0
    offset: float = 0.0
    sentinel: list[int | float | str] | None = None
    range: tuple[float, float] | None = None
    group: str | None = None
    count: int = Field(default=1, ge=1, le=1000)
    stride: int | None = Field(default=None, ge=1)
    flags: FlagsRow | None = None
    description: str = ""
    source: str = Field(min_length=1, description="datasheet table the row comes from")


class IdentityRow(_Row):
    field: IdentityField
    function: Function | None = None
    address: int = Field(ge=0, le=0xFFFF)
    type: ValueType | Literal["ascii"]
    length: int | None = Field(default=None, ge=1, le=MAX_READ_REGISTERS)
    order: Order | None = None
    format: IdentityFormat | None = None
    source: str = Field(min_length=1)


class WordOrderTestRow(_Row):
    function: Function | None = None
    address: int = Field(ge=0, le=0xFFFF)
    datasheet_number: int | None = Field(default=None, ge=1, le=0x10000)
    type: ValueType
    expected: int | float
    source: str = Field(min_length=1)


class ProfileDocument(_Row):
    """The whole file. Each row is checked here on its own; the resolver checks them together."""

    device: DeviceMeta
    defaults: Defaults = Defaults()
    workarounds: Workarounds = Workarounds()
    group: list[GroupRow] = []
    block: list[BlockRow] = []
    identity: list[IdentityRow] = []
    word_order_test: WordOrderTestRow | None = None
    point: list[PointRow] = Field(min_length=1)
