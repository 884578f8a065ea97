"""Where the kills are aimed: each at a moment of one kind in a running loggerd, and the upsets
it is put through on the way (its store held as a backup would, PostgreSQL restarted)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks.crash import note
from benchmarks.crash.daemon import BEHIND_S, DaemonProcess, downloading, wait_health, writer_behind
from benchmarks.crash.store import StoreTarget, restart_postgres

# The kinds of moment, aimed at in turn.
MODES = ("backfill", "drain", "uniform", "startup", "stopping")

Snapshot = dict[str, Any] | None


class Aims:
    """Waits for the moment of a mode in a running loggerd and returns the health snapshot
    taken just before the kill should come."""

    def __init__(
        self, rng: random.Random, target: StoreTarget, ready: Callable[[DaemonProcess], str]
    ) -> None:
        self.rng = rng
        self.target = target
        self.ready = ready
        self.stalls = 0  # times the store was held
        self.postgres_restarts: list[dict[str, Any]] = []
        # What to do once the kill is done (let go of a held store).
        self._after_kill: Callable[[], None] | None = None

    def aim(self, mode: str, d: DaemonProcess) -> Snapshot:
        self._after_kill = None
        moments: dict[str, Callable[[DaemonProcess], Snapshot]] = {
            "backfill": self.backfill,
            "drain": self.drain,
            "uniform": self.uniform,
            "startup": self.startup,
            "stopping": self.stopping,
        }
        return moments[mode](d)

    def after_kill(self) -> None:
        """Undo what the aim set up, once the kill is done."""
        if self._after_kill is not None:
            self._after_kill()

    def backfill(self, d: DaemonProcess) -> Snapshot:
        self.ready(d)
        # A download starts once the logger's clock is checked (a few seconds of reads timed
        # at its ticks, beside the polls): wait that long for it.
        return wait_health(d, downloading, 20.0)

    def uniform(self, d: DaemonProcess) -> Snapshot:
        self.ready(d)
        time.sleep(self.rng.uniform(0.05, 3.0))  # sync-ok: the random kill moment itself
        return d.health()

    def startup(self, d: DaemonProcess) -> Snapshot:
        # loggerd takes about a second to import and open everything before the API is up.
        time.sleep(self.rng.uniform(0.05, 1.3))  # sync-ok: the random kill moment itself
        return d.health() if d.poll_ready() else None

    def drain(self, d: DaemonProcess) -> Snapshot:
        """Hold the store until the writer is behind, then kill either while it is still held
        (the spool growing, a flush waiting for the lock) or just after it is let go (the
        backlog being written)."""
        self.ready(d)
        # Let the start-up download finish first, so the kill hits the writer, not a download.
        wait_health(d, lambda h: not downloading(h), 5.0)
        release = threading.Event()
        held = threading.Event()

        def hold() -> None:
            with self.target.held():
                held.set()
                release.wait(30)

        self.stalls += 1
        holder = threading.Thread(target=hold, name="crash-store-held", daemon=True)
        holder.start()
        if not held.wait(30):
            raise RuntimeError("could not take the store's lock within 30 s")
        # Well behind, so that it still is for a moment after the store is let go.
        behind = wait_health(
            d, lambda h: writer_behind(h) and h["writer"]["lag_s"] > 2 * BEHIND_S, 10.0
        )
        if behind is None or not writer_behind(behind):
            note("the writer did not fall behind while the store was held")
        if self.rng.random() < 0.5:
            snapshot = d.health()  # still held
        else:
            release.set()
            holder.join(60)
            time.sleep(self.rng.uniform(0.0, 0.1))  # sync-ok: the random kill moment itself
            snapshot = d.health()

        def let_go() -> None:
            release.set()
            holder.join(60)

        self._after_kill = let_go
        return snapshot

    def stopping(self, d: DaemonProcess) -> Snapshot:
        """SIGTERM, then SIGKILL while loggerd stops (pollers cancelled, the writer flushing)."""
        self.ready(d)
        time.sleep(self.rng.uniform(0.3, 2.0))  # sync-ok: the random kill moment itself
        snapshot = d.health()
        with contextlib.suppress(ProcessLookupError):
            os.kill(d.proc.pid, signal.SIGTERM)
        time.sleep(self.rng.uniform(0.0, 0.1))  # sync-ok: the random kill moment itself
        return snapshot

    def postgres_restart(self, d: DaemonProcess) -> None:
        """Restart PostgreSQL under a running loggerd, which must ride it out on its spool."""
        self.ready(d)
        before = d.health()
        failed_before = before["writer"]["failed_flushes"] if before else 0
        took_s = restart_postgres()
        note(f"PostgreSQL restarted in {took_s:.1f} s under a running loggerd")
        # The daemon must ride it out: its writer back to ok, its spool drained to normal.
        after = wait_health(
            d,
            lambda h: h["writer"]["state"] == "ok" and (h["writer"].get("lag_s") or 0) < BEHIND_S,
            60.0,
        )
        recovered = bool(
            after
            and after["writer"]["state"] == "ok"
            and (after["writer"].get("lag_s") or 0) < BEHIND_S
        )
        self.postgres_restarts.append(
            {
                "restart_s": round(took_s, 2),
                "failed_flushes": (after["writer"]["failed_flushes"] - failed_before)
                if after
                else None,
                "recovered": recovered,
            }
        )
        outcome = "recovered" if recovered else "did NOT recover"
        note(f"loggerd {outcome} after the PostgreSQL restart")
