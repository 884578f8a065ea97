"""Exponential back-off with jitter: how long to wait before trying again something that failed.

One policy for every retry loop (the writer's store flushes, device quarantine, re-opening a
store at start). The delay doubles from `initial_s` up to `max_s`; jitter then
shortens each delay by a random share of up to `jitter` of it, so that several loggerds that
lost one PostgreSQL server at the same moment do not all knock again at the same instant when
it comes back. Jitter only ever shortens: a delay is never longer than the un-jittered one, and
the doubling runs on the un-jittered delays, so jitter never slows the climb to `max_s`.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable

__all__ = ["Backoff"]


class Backoff:
    """Delays of initial_s, 2 x initial_s, 4 x initial_s, ... up to max_s, each shortened by a
    random share of up to `jitter` (0: none, 0.5: by up to half). reset() after a success."""

    def __init__(
        self,
        initial_s: float,
        max_s: float,
        jitter: float = 0.5,
        *,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if not (initial_s > 0 and max_s > 0):
            raise ValueError(f"delays must be positive, got {initial_s} and {max_s}")
        # Below 1, so that a delay never becomes 0 (a retry loop spinning on a dead server).
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter is a fraction in [0, 1), got {jitter}")
        self.initial_s = min(initial_s, max_s)  # a first delay longer than the longest is it
        self.max_s = max_s
        self.jitter = jitter
        self._random = random  # in [0, 1), like random.random; tests pass a fixed one
        self._base_s = 0.0  # the last un-jittered delay; 0 before the first failure

    def next(self) -> float:
        """The delay before the next try (s); each call is one more failure."""
        if self._base_s == 0.0:
            self._base_s = self.initial_s
        else:
            self._base_s = min(self._base_s * 2, self.max_s)
        return self._base_s * (1.0 - self.jitter * self._random())

    def reset(self) -> None:
        """After a success: the next failure waits initial_s again."""
        self._base_s = 0.0
