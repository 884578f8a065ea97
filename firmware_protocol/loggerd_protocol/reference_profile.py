"""The reference logger as a device profile, generated from its definition.

reference_logger.toml is the one source of the logger's register map. The generic
`modbus-profile` driver reads devices through profiles, so it gets the logger's profile from
here, built from that definition, instead of from a second, hand-kept register map that would
have to be kept in step with the first.

The profile holds what a poller needs: the identity registers and the live block (every value
and every status word in it). The logging memory and the settings are the dedicated
`reference-modbus` driver's business. Every row cites the section of PROTOCOL.md it comes from;
tests/protocol/test_profile.py checks that each cited section exists and covers the row.

What the definition does not say, because it is not the logger's protocol but the profile
format's vocabulary, is stated below once: which identity field a register is, and what the two
live registers that are neither a point nor a point's status word measure.
"""

from __future__ import annotations

from .definition import Definition, Field
from .profile_document import (
    BlockRow,
    Defaults,
    DeviceMeta,
    FlagsRow,
    GroupRow,
    IdentityField,
    IdentityFormat,
    IdentityRow,
    PointRow,
    ProfileDocument,
    Workarounds,
)

PROTOCOL = "PROTOCOL.md"
GROUP = "live"  # the profile's one poll group
IDENTITY_BLOCK = "identity"
LIVE_BLOCK = "live"

# The blocks the profile reads, and the section of PROTOCOL.md that tabulates each.
REGISTER_TABLES = {IDENTITY_BLOCK: "§6.1", LIVE_BLOCK: "§6.2"}
# Other sections the rows cite.
ADDRESS_BLOCKS = "§5"
MISSING_VALUES = "§4.2"
LIVE_VALUES = "§10"
CHANNEL_STATUS_BITS = "§7.1"
DEVICE_STATUS_BITS = "§7.2"

# Identity field of the profile format -> register of the map, and how it is shown.
IDENTITY: tuple[tuple[IdentityField, str, IdentityFormat | None], ...] = (
    ("model", "model_name", None),
    ("firmware_version", "firmware_version", "byte_pair"),  # major in the high byte
    ("serial_number", "serial_number", None),
    ("channel_count", "channel_count", None),
    ("calibration_date", "calibration_date", None),
)
DEVICE_STATUS = "device_status"
# Live registers that are not points, nor the status word of one: what they hold.
OTHER_QUANTITIES = {"measurement_time": "logger_time", DEVICE_STATUS: "status"}
# Any bit set in a channel status word (open or short circuit, out of range, not fitted) marks
# its channel as faulty, as the reference-modbus driver has it.
ANY_BIT = 0xFFFF


def reference_profile_document(defn: Definition) -> ProfileDocument:
    """The profile of the logger `defn` describes, as if written in a profile file."""
    tables = [b for b in defn.blocks if b.name in REGISTER_TABLES]
    live = next(b for b in tables if b.name == LIVE_BLOCK)
    live_fields = [
        f
        for f in defn.fields
        if f.table == live.table and live.first <= f.address and f.end - 1 <= live.last
    ]
    return ProfileDocument(
        device=DeviceMeta(
            manufacturer="loggerd",
            model=defn.model,
            description=defn.description,
            datasheet=f"firmware_protocol/{PROTOCOL}, {defn.model} reference logger "
            "communication protocol",
        ),
        defaults=Defaults(
            function=live.table,  # identity and live values are both input registers
            order=defn.word_order,  # PROTOCOL.md §4.1
            sentinel=["nan"],  # §4.2: a float with no value is NaN
            group=GROUP,
        ),
        workarounds=Workarounds(
            max_span=defn.max_registers_per_read,  # §3
            gap_fill_allowed=True,  # §5: reserved registers inside a block read as 0
        ),
        group=[
            GroupRow(
                name=GROUP,
                description="Live values and their status words, read in one transaction",
            )
        ],
        block=[
            BlockRow(
                name=b.name,
                function=b.table,
                first=b.first,
                last=b.last,
                source=f"{PROTOCOL} {ADDRESS_BLOCKS}, Address blocks: {b.name}, "
                f"{b.table} 0x{b.first:04X}-0x{b.last:04X}",
            )
            for b in tables
        ],
        identity=[_identity_row(defn, *item) for item in IDENTITY],
        point=[_point_row(defn, f) for f in live_fields],
    )


def _cite(f: Field, section: str, note: str = "") -> str:
    size = f"ascii, {f.words} registers" if f.type == "ascii" else f.type
    return f"{PROTOCOL} {section}: {f.name}, 0x{f.address:04X}, {size}: {f.description}{note}"


def _identity_row(
    defn: Definition, field: IdentityField, register: str, show: IdentityFormat | None
) -> IdentityRow:
    f = defn.field(register)
    text = f.type == "ascii"
    return IdentityRow(
        field=field,
        function=f.table,
        address=f.address,
        type="ascii" if text else f.number_type,
        length=f.words if text else None,
        format=show,
        source=_cite(f, REGISTER_TABLES[IDENTITY_BLOCK]),
    )


def _point_row(defn: Definition, f: Field) -> PointRow:
    """The row of one live register: a point, the status word of one, or one of the others."""
    status_of = {defn.status_field(p).name: p for p in defn.point_names()}
    sentinel: list[int | float | str] | None = []  # an integer has no "unavailable" value
    value_range: tuple[float, float] | None = None
    flags: FlagsRow | None = None
    if f.name in defn.point_names():
        p = defn.point(f.name)
        quantity, unit, value_range, sentinel = p.quantity, p.unit, p.range, None
        note = (
            f"; no value is NaN ({MISSING_VALUES}); "
            f"range {p.range[0]:g} … {p.range[1]:g} {p.unit} ({LIVE_VALUES})"
        )
    elif f.name in status_of:
        quantity, unit = "status", ""
        flags = FlagsRow(covers=[status_of[f.name]], fault_mask=ANY_BIT)
        note = f"; bits in {CHANNEL_STATUS_BITS}"
    elif f.name in OTHER_QUANTITIES:
        quantity, unit = OTHER_QUANTITIES[f.name], f.unit or ""
        note = f"; bits in {DEVICE_STATUS_BITS}" if f.name == DEVICE_STATUS else ""
    else:
        raise ValueError(
            f"{f.name} is in the live block but is no point, no status word and not in "
            "OTHER_QUANTITIES: say what it measures"
        )
    return PointRow(
        name=f.name,
        quantity=quantity,
        unit=unit,
        function=f.table,
        address=f.address,
        type=f.number_type,
        sentinel=sentinel,
        range=value_range,
        flags=flags,
        source=_cite(f, REGISTER_TABLES[LIVE_BLOCK], note),
    )
