"""From a profile as written to a Profile: defaults applied, counted rows expanded, and the rules
that span rows checked (names, groups, blocks, status coverage, the word-order test), every
problem reported at once with the line of the row and key it concerns.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from .planner import Block
from .profile_document import (
    NAME_PATTERN,
    IdentityFormat,
    PointRow,
    ProfileDocument,
    ProfileError,
)
from .profile_model import Group, IdentityItem, Point, Profile, StatusRule, WordOrderTest
from .registers import FLOAT_TYPES, ORDERS, WORDS, Function, ValueType, type_limits
from .toml_document import KeyPath, Problem, TomlDocument

_TEMPLATE = "{n}"


class _Resolver:
    """From the document as written to a Profile: defaults applied, rows expanded, and the
    rules that span rows checked (names, groups, blocks, status coverage, word-order test)."""

    def __init__(self, doc: ProfileDocument, where: TomlDocument) -> None:
        self.doc = doc
        self.origin = where.source
        self.where = where
        self.problems: list[Problem] = []

    def fail(self, loc: KeyPath, message: str) -> None:
        self.problems.append(self.where.problem(loc, message))

    def resolve(self) -> Profile:
        d = self.doc
        groups = tuple(Group(g.name, g.interval_s, g.description) for g in d.group)
        for i, name in _duplicates([g.name for g in groups]):
            self.fail(("group", i, "name"), f"group {name!r} is declared twice")
        default_group = d.defaults.group or (groups[0].name if len(groups) == 1 else "all")
        if not groups:
            groups = (Group(default_group, None),)
        elif d.defaults.group is not None and d.defaults.group not in {g.name for g in groups}:
            self.fail(("defaults", "group"), f"no [[group]] named {d.defaults.group!r}")
        blocks = tuple(
            Block(b.name, b.function or d.defaults.function, b.first, b.last) for b in d.block
        )
        for i, b in enumerate(d.block):
            if b.first > b.last:
                self.fail(("block", i, "last"), f"last ({b.last}) is before first ({b.first})")
        points = self._points(default_group, {g.name for g in groups})
        for i, name in _duplicates([p.name for p in points]):
            self.fail(("point", points[i].row, "name"), f"point {name!r} is defined twice")
        self._check_flags(points)
        for g in groups:
            if not any(p.group == g.name for p in points):
                loc: KeyPath = ("group", [x.name for x in groups].index(g.name))
                self.fail(loc if d.group else ("point",), f"group {g.name!r} has no points")
        identity = self._identity()
        test = self._word_order_test()
        self._check_blocks(blocks, points, identity, test)
        profile = Profile(
            origin=self.origin,
            device=d.device,
            function=d.defaults.function,
            order=d.defaults.order,
            workarounds=d.workarounds,
            groups=groups,
            points=points,
            identity=identity,
            blocks=blocks,
            word_order_test=test,
        )
        if not self.problems and profile.largest_span() > d.workarounds.max_span:
            self.fail(
                ("workarounds", "max_span"),
                f"{d.workarounds.max_span} is less than the {profile.largest_span()} registers "
                "of the largest value",
            )
        if self.problems:
            raise ProfileError(self.problems)
        return profile

    def _sentinels(
        self, loc: KeyPath, values: Sequence[int | float | str], value_type: ValueType
    ) -> tuple[tuple[int | float, ...], bool]:
        out: list[int | float] = []
        nan = False
        lo, hi = type_limits(value_type)
        for v in values:
            if isinstance(v, str) and v.lower() != "nan":
                self.fail(loc, f'a sentinel is a number or "nan", got {v!r}')
            elif isinstance(v, str) or (isinstance(v, float) and math.isnan(v)):
                if value_type not in FLOAT_TYPES:
                    self.fail(loc, f'"nan" cannot be a sentinel of {value_type}')
                nan = True
            elif value_type not in FLOAT_TYPES and (not float(v).is_integer() or not lo <= v <= hi):
                self.fail(loc, f"sentinel {v!r} is not a raw {value_type} value ({lo}..{hi})")
            else:
                out.append(int(v) if value_type not in FLOAT_TYPES else float(v))
        return tuple(out), nan

    def _points(self, default_group: str, group_names: set[str]) -> tuple[Point, ...]:
        d = self.doc
        out: list[Point] = []
        for i, row in enumerate(d.point):
            stride = self._check_layout(i, row)
            given = row.sentinel is not None
            sentinels, nan = self._sentinels(
                ("point", i, "sentinel") if given else ("defaults", "sentinel"),
                row.sentinel if row.sentinel is not None else d.defaults.sentinel,
                row.type,
            )
            group = row.group or default_group
            if group not in group_names:
                self.fail(("point", i, "group"), f"no [[group]] named {group!r}")
            self._check_status_rule(i, row)
            for n in range(1, row.count + 1):
                out.append(self._point(i, row, n, stride, group, sentinels, nan))
        return tuple(out)

    def _check_layout(self, i: int, row: PointRow) -> int:
        """Check where a row's values lie; the stride between them is the answer."""
        loc: KeyPath = ("point", i)
        template = _TEMPLATE in row.name
        if row.count > 1 and not template:
            self.fail((*loc, "name"), f"a row with count = {row.count} needs {{n}} in its name")
        if row.count == 1 and template:
            self.fail((*loc, "name"), "{n} in a name needs count > 1")
        words = WORDS[row.type]
        stride = row.stride if row.stride is not None else words
        if row.stride is not None and row.stride < words:
            self.fail(
                (*loc, "stride"),
                f"{row.stride} is less than the {words} registers of {row.type}",
            )
        last_end = row.address + stride * (row.count - 1) + words
        if last_end > 0x10000:
            self.fail((*loc, "address"), "the row runs past register 65535")
        if row.datasheet_number is not None and row.datasheet_number != row.address + 1:
            self.fail(
                (*loc, "datasheet_number"),
                f"register number {row.datasheet_number} is PDU address "
                f"{row.datasheet_number - 1}, not {row.address}: one of them is wrong "
                "(addresses are 0-based, datasheet numbers 1-based)",
            )
        if row.range is not None and not row.range[0] < row.range[1]:
            self.fail((*loc, "range"), f"{list(row.range)} is not [low, high]")
        if row.scale == 0 or not math.isfinite(row.scale):
            self.fail((*loc, "scale"), f"{row.scale} cannot scale a value")
        return stride

    def _check_status_rule(self, i: int, row: PointRow) -> None:
        if row.flags is None:
            return
        if row.type in FLOAT_TYPES:
            self.fail(("point", i, "flags"), f"a status row must be an integer, not {row.type}")
        rules = [row.flags.fault_unless, row.flags.fault_if, row.flags.fault_mask]
        if sum(r is not None for r in rules) != 1:
            self.fail(
                ("point", i, "flags"), "give exactly one of fault_unless, fault_if, fault_mask"
            )

    def _point(
        self,
        i: int,
        row: PointRow,
        n: int,
        stride: int,
        group: str,
        sentinels: tuple[int | float, ...],
        nan: bool,
    ) -> Point:
        """Value `n` (1-based) of row `i`: `name_{n}` at the row's address + (n - 1) strides."""
        d = self.doc
        name = row.name.replace(_TEMPLATE, str(n))
        if not re.match(NAME_PATTERN, name):
            self.fail(("point", i, "name"), f"{name!r}: lower case letters, digits and _")
        flags = None
        if row.flags is not None:
            f = row.flags
            flags = StatusRule(
                frozenset(c.replace(_TEMPLATE, str(n)) for c in f.covers),
                f.fault_unless,
                f.fault_if,
                f.fault_mask,
            )
        return Point(
            name=name,
            quantity=row.quantity,
            unit=row.unit,
            function=row.function or d.defaults.function,
            address=row.address + (n - 1) * stride,
            type=row.type,
            order=row.order or d.defaults.order,
            source=row.source,
            scale=row.scale,
            offset=row.offset,
            sentinels=sentinels,
            nan_sentinel=nan,
            range=row.range,
            group=group,
            flags=flags,
            inherits_order=row.order is None,
            row=i,
            description=row.description,
        )

    def _check_flags(self, points: Sequence[Point]) -> None:
        names = {p.name for p in points}
        for p in points:
            if p.flags is None:
                continue
            loc = ("point", p.row, "flags", "covers")
            for covered in sorted(p.flags.covers):
                if covered == p.name:
                    self.fail(loc, f"{p.name!r} cannot cover itself")
                elif covered not in names:
                    self.fail(loc, f"{p.name!r} covers {covered!r}, which is not a point")

    def _identity(self) -> tuple[IdentityItem, ...]:
        d = self.doc
        out: list[IdentityItem] = []
        for i, row in enumerate(d.identity):
            loc: KeyPath = ("identity", i)
            if row.type == "ascii":
                if row.length is None:
                    self.fail((*loc, "length"), "an ascii value needs its length in registers")
                words = row.length or 1
                fmt: IdentityFormat = row.format or "text"
                if fmt != "text":
                    self.fail((*loc, "format"), "ascii is shown as text")
            else:
                if row.length is not None:
                    self.fail((*loc, "length"), f"{row.type} has a fixed length")
                words = WORDS[row.type]
                fmt = row.format or "decimal"
                if fmt == "text":
                    self.fail((*loc, "format"), f"{row.type} is a number, not text")
                if fmt == "byte_pair" and row.type != "uint16":
                    self.fail((*loc, "format"), "byte_pair reads a uint16 as high.low")
            out.append(
                IdentityItem(
                    field=row.field,
                    function=row.function or d.defaults.function,
                    address=row.address,
                    type=row.type,
                    words=words,
                    order=row.order or d.defaults.order,
                    format=fmt,
                    source=row.source,
                    inherits_order=row.order is None,
                )
            )
        for i, name in _duplicates([x.field for x in out]):
            self.fail(("identity", i, "field"), f"{name!r} is given twice")
        return tuple(out)

    def _word_order_test(self) -> WordOrderTest | None:
        row = self.doc.word_order_test
        if row is None:
            return None
        loc: KeyPath = ("word_order_test",)
        if row.datasheet_number is not None and row.datasheet_number != row.address + 1:
            self.fail(
                (*loc, "datasheet_number"),
                f"register number {row.datasheet_number} is PDU address "
                f"{row.datasheet_number - 1}, not {row.address}",
            )
        test = WordOrderTest(
            row.function or self.doc.defaults.function,
            row.address,
            row.type,
            row.expected,
            row.source,
        )
        try:
            encodings = {o: test.registers(o) for o in ORDERS}
        except ValueError as exc:
            self.fail((*loc, "expected"), str(exc))
            return test
        if len(set(encodings.values())) != len(ORDERS):
            same = [o for o in ORDERS if list(encodings.values()).count(encodings[o]) > 1]
            self.fail(
                (*loc, "expected"),
                f"{row.expected!r} as {row.type} reads the same in {', '.join(same)}: "
                "it cannot tell the orders apart",
            )
        return test

    def _check_blocks(
        self,
        blocks: Sequence[Block],
        points: Sequence[Point],
        identity: Sequence[IdentityItem],
        test: WordOrderTest | None,
    ) -> None:
        items: list[tuple[KeyPath, Function, int, int]] = [
            (("point", p.row, "address"), p.function, p.address, p.end) for p in points
        ]
        items += [
            (("identity", i, "address"), x.function, x.address, x.end)
            for i, x in enumerate(identity)
        ]
        if test is not None:
            items.append((("word_order_test", "address"), test.function, test.address, test.end))
        for loc, function, first, end in items:
            if end > 0x10000:
                self.fail(loc, "the value runs past register 65535")
            declared = [b for b in blocks if b.function == function]
            if blocks and not any(b.contains(function, first, end) for b in declared):
                known = ", ".join(f"{b.name} {b.first}..{b.last}" for b in declared)
                self.fail(
                    loc,
                    f"{function} registers {first}..{end - 1} are in no [[block]] "
                    f"({known or f'none is declared for {function} registers'})",
                )


def build_profile(document: ProfileDocument, where: TomlDocument) -> Profile:
    """The Profile a validated document describes; a ProfileError lists every rule it breaks,
    each at its line in `where` (the document as read, or one built in code)."""
    return _Resolver(document, where).resolve()


def _duplicates(names: Sequence[str]) -> list[tuple[int, str]]:
    seen: set[str] = set()
    out = []
    for i, name in enumerate(names):
        if name in seen:
            out.append((i, name))
        seen.add(name)
    return out
