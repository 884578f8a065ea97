"""A memory download's windows on the line: asked ahead of need, each read on the line's
thread and timed there, and dropped when no one will hand it on (see follower.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from loggerd.drivers.base import LoggedRecord

__all__ = ["Window", "abandon", "read_timed"]

T = TypeVar("T")


@dataclass(frozen=True)
class Window:
    """A window of records asked for on the line."""

    first: int
    count: int
    asked: float  # monotonic
    request: asyncio.Task[tuple[list[LoggedRecord], float]]  # the records, and when they came


def read_timed(
    read_records: Callable[[int, int], list[LoggedRecord]],
    monotonic: Callable[[], float],
    first: int,
    count: int,
) -> tuple[list[LoggedRecord], float]:
    """A window read on the line's thread, and when it ended there (the loop may take it
    later: the window's time is the line's, not the loop's)."""
    return read_records(first, count), monotonic()


def abandon(task: asyncio.Task[T]) -> None:
    """A read no one will hand on: cancel the wait for it (a request under way on the line
    still runs to its end) and let whatever it ends with go unreported."""
    task.cancel()
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
