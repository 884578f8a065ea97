"""The alarm engine at work beside acquisition: on a thread of its own, fed every accepted
sample without waiting, looking at the daemon's status every few seconds, storing transitions
and waking the notification senders. Nothing here can delay a poll: the poll path only appends
a batch to a deque, which the thread empties every tenth of a second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from loggerd.alarms.engine import AlarmEngine, ChannelStatus, DeviceStatus
from loggerd.alarms.rules import (
    AlarmRules,
    DeviationRule,
    LimitRule,
    RateRule,
    Severity,
    StaleRule,
)
from loggerd.core.alarms import Transition
from loggerd.core.profiles import Quantity, Run
from loggerd.core.samples import Sample
from loggerd.core.times import utc_now_us
from loggerd.notify.sender import Sender
from loggerd.notify.targets import MqttAlarms, MqttSettings, Webhook
from loggerd.service.config import AlarmsConfig
from loggerd.storage.store import Store, StoreError

log = logging.getLogger(__name__)

RUNS_REFRESH_S = 10.0  # open runs (the deviation alarm's setpoints) are read this often
JUDGE_EVERY_S = 0.1  # how often the samples offered meanwhile are judged
Status = Callable[[], tuple[Sequence[DeviceStatus], Sequence[ChannelStatus]]]


def rules_from(config: AlarmsConfig) -> AlarmRules:
    return AlarmRules(
        limits=tuple(
            LimitRule(r.chamber, r.channel, r.high, r.low, r.deadband, r.delay_s,
                      Severity(r.severity))
            for r in config.limit
        ),
        rates=tuple(
            RateRule(r.chamber, r.channel, r.max_per_min, r.window_s, Severity(r.severity))
            for r in config.rate
        ),
        deviations=tuple(
            DeviationRule(r.chamber, r.channel, r.quantity, r.delay_s, Severity(r.severity))
            for r in config.deviation
        ),
        stale=tuple(
            StaleRule(r.chamber, r.channel, r.max_age_s, Severity(r.severity))
            for r in config.stale
        ),
        sensor_faults=config.sensor_faults,
        communication=config.communication,
        memory_full_fraction=config.memory_full_fraction,
        calibration=config.calibration,
    )  # fmt: skip


class AlarmService:
    def __init__(
        self,
        config: AlarmsConfig,
        store: Store,
        status: Status,
        now_us: Callable[[], int] = utc_now_us,
    ) -> None:
        self.config = config
        self.store = store
        self.status = status
        self.now_us = now_us
        self.engine = AlarmEngine(rules_from(config), self._setpoint)
        self.senders = [Sender(store.alarms, Webhook(url)) for url in config.webhooks]
        if config.mqtt is not None:
            m = config.mqtt
            settings = MqttSettings(m.url, m.prefix, m.username, m.password, m.ca_file)
            self.senders.append(Sender(store.alarms, MqttAlarms(settings)))
        # Batches offered and not yet judged. The thread takes them every JUDGE_EVERY_S, not
        # woken by each: a wake per poll was a context switch per poll at a thousand loggers.
        self._offered: deque[list[Sample]] = deque()
        self._stopping = threading.Event()
        self._unstored: list[Transition] = []
        self._runs: dict[str, Run] = {}
        self._runs_read = -RUNS_REFRESH_S
        self._thread: threading.Thread | None = None
        self.judged = 0  # samples judged (tests wait on it)
        self._judged_changed = threading.Condition()

    # Called from the acquisition's loop: never blocks.
    def offer(self, samples: list[Sample]) -> None:
        self._offered.append(samples)  # atomic: no lock, and nobody woken

    def start(self) -> None:
        try:
            self.engine.restore(self.store.alarms.open_keys())
        except StoreError as exc:  # the transitions are stored idempotently once it is back
            log.warning("alarms: open alarms not read (%s); judged afresh", exc)
        for sender in self.senders:
            try:
                sender.start()
            except StoreError as exc:
                log.warning("alarms: %s not started: %s", sender.target.name, exc)
        self._thread = threading.Thread(target=self._run, name="loggerd-alarms", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)
        self._store()  # the last transitions, if the store takes them
        for sender in self.senders:
            sender.stop()

    def wait_judged(self, count: int, timeout_s: float) -> bool:
        with self._judged_changed:
            return self._judged_changed.wait_for(lambda: self.judged >= count, timeout_s)

    def _run(self) -> None:
        next_status = time.monotonic()
        while True:
            wait_s = min(JUDGE_EVERY_S, max(0.0, next_status - time.monotonic()))
            stopping = self._stopping.wait(wait_s)
            batch: list[Sample] = []
            while self._offered:  # offered before stop(): still judged
                batch += self._offered.popleft()
            transitions: list[Transition] = []
            try:
                if batch:
                    transitions += self.engine.accept(batch)
                if time.monotonic() >= next_status:
                    next_status = time.monotonic() + self.config.status_interval_s
                    devices, channels = self.status()
                    transitions += self.engine.status(self.now_us(), devices, channels)
            except Exception:  # a bug in a rule must not end alarm evaluation for good
                log.exception("alarms: evaluation failed; going on with the next samples")
            self._unstored += transitions
            self._store()
            with self._judged_changed:
                self.judged += len(batch)
                self._judged_changed.notify_all()
            if stopping:
                return

    def _store(self) -> None:
        if not self._unstored:
            return
        try:
            self.store.alarms.apply(self._unstored)
        except StoreError as exc:  # kept, and stored with the next ones
            log.warning("alarms: %d transitions wait for the store: %s", len(self._unstored), exc)
            return
        for t in self._unstored:
            log.log(
                logging.WARNING if t.raised else logging.INFO,
                "alarm %s: %s", "raised" if t.raised else "cleared", t.message,
            )  # fmt: skip
        self._unstored = []
        for sender in self.senders:
            sender.poke()

    def _setpoint(self, chamber_id: str, quantity: str, utc_us: int) -> tuple[float, float] | None:
        if time.monotonic() - self._runs_read >= RUNS_REFRESH_S:
            try:
                self._runs = {r.chamber_id: r for r in self.store.runs.list(open_only=True)}
                self._runs_read = time.monotonic()
            except StoreError:
                pass  # the runs last read stand
        run = self._runs.get(chamber_id)
        if run is None or utc_us < run.start_us:
            return None
        q: Quantity = quantity  # type: ignore[assignment]
        return run.profile.target_at(q, (utc_us - run.start_us) / 1e6)
