"""A plain bank of holding and input registers: a stand-in device for wire measurements."""

from __future__ import annotations

from loggerd_protocol.definition import Table

from .logger import ILLEGAL_ADDRESS, RegisterError


class RegisterBank:
    """`size` holding and input registers from address 0, each reading its own address."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.holding = list(range(size))
        self.input = list(range(size))

    def _check(self, address: int, count: int) -> None:
        if address + count > self.size:
            raise RegisterError(ILLEGAL_ADDRESS, f"0x{address:04X}+{count} beyond {self.size}")

    def read_registers(self, table: Table, address: int, count: int) -> tuple[int, ...]:
        self._check(address, count)
        bank = self.holding if table == "holding" else self.input
        return tuple(bank[address : address + count])

    def write_registers(self, address: int, words: tuple[int, ...]) -> None:
        self._check(address, len(words))
        self.holding[address : address + len(words)] = words
