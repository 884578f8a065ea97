"""What the simulator's tests share: a pool of lines for the masters that talk to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loggerd.link.lines import LinePool


@pytest.fixture
def lines() -> Iterator[LinePool]:
    pool = LinePool()
    yield pool
    pool.close()
