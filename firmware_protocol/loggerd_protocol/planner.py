"""The read planner: which read requests bring a set of values, fewest first. Pure.

It knows registers and the limits a device puts on reading them (how many at once, whether
registers no value occupies may be read, which address ranges exist), nothing of what the values
mean, so a device profile and any other register map can plan with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .modbus import MAX_READ_REGISTERS
from .registers import Function


@dataclass(frozen=True)
class Block:
    """A range of legal addresses (first..last inclusive) for one function."""

    name: str
    function: Function
    first: int
    last: int

    def contains(self, function: Function, first: int, end: int) -> bool:
        return function == self.function and self.first <= first and end - 1 <= self.last


@dataclass(frozen=True)
class Span:
    """Registers one value occupies: `words` registers from `address`, read with `function`."""

    function: Function
    address: int
    words: int
    name: str

    @property
    def end(self) -> int:
        return self.address + self.words


@dataclass(frozen=True)
class ReadRequest:
    """One read transaction and the values it brings."""

    function: Function
    address: int
    count: int
    names: tuple[str, ...]

    @property
    def end(self) -> int:
        return self.address + self.count


def plan_reads(
    spans: Iterable[Span],
    *,
    max_span: int = MAX_READ_REGISTERS,
    gap_fill: bool = False,
    blocks: Sequence[Block] = (),
) -> tuple[ReadRequest, ...]:
    """Group values into the fewest read requests, per function, in address order.

    A request never splits a value, never reads more than `max_span` registers (nor 125),
    and reads registers between values (a gap) only when `gap_fill` allows it and, where
    `blocks` are declared, only inside one block of the function. Taking each value into the
    current request while it fits is optimal here: whatever one request may cover, it may
    also cover any run of consecutive values inside it, so the greedy cut is never later
    than the best one (the classic interval-cover argument).
    """
    limit = min(max_span, MAX_READ_REGISTERS)
    requests: list[ReadRequest] = []
    by_function: dict[Function, list[Span]] = {}
    for s in spans:
        if s.words > limit:
            raise ValueError(f"{s.name} takes {s.words} registers, more than max_span {limit}")
        if s.address < 0 or s.end > 0x10000:
            raise ValueError(f"{s.name} at {s.address}+{s.words} is outside 0..65535")
        by_function.setdefault(s.function, []).append(s)
    for function in sorted(by_function):
        fn_blocks = [b for b in blocks if b.function == function]
        ordered = sorted(by_function[function], key=lambda s: (s.address, s.end, s.name))
        start, end, names = ordered[0].address, ordered[0].end, [ordered[0].name]
        gapped = False  # the current request reads registers no value occupies
        for s in ordered[1:]:
            new_end = max(end, s.end)
            new_gapped = gapped or s.address > end
            fits = new_end - start <= limit
            if new_gapped:  # only where the device lets us read through, inside one block
                fits = fits and gap_fill
                if fits and blocks:
                    fits = any(b.contains(function, start, new_end) for b in fn_blocks)
            if fits:
                end, gapped = new_end, new_gapped
                names.append(s.name)
            else:
                requests.append(ReadRequest(function, start, end - start, tuple(names)))
                start, end, names, gapped = s.address, s.end, [s.name], False
        requests.append(ReadRequest(function, start, end - start, tuple(names)))
    return tuple(requests)
