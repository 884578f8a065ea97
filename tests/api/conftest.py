"""What the API's tests share beyond the root conftest."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def worker_threads_have_stopped() -> Iterator[None]:
    """FastAPI runs a sync route in one of AnyIO's worker threads. AnyIO tells such a thread to
    stop when the task that started it ends, and it stops a moment later: wait for that moment
    (the event loop is torn down before this fixture), so that the leak check after it flags a
    thread only if it really outlives the test."""
    before = set(threading.enumerate())
    yield
    for thread in set(threading.enumerate()) - before:
        if thread.name == "AnyIO worker thread":
            thread.join(timeout=5)
