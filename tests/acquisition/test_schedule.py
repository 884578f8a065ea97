"""The poll schedule: each device at its own phase of the interval, a tick that could not be
polled recorded rather than lost, and the line's backfill share split between its downloads."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Collection, Sequence
from typing import Any

from loggerd.acquisition.poller import ChannelBinding, DevicePoller, LineDownloads
from loggerd.core.health import BackfillHealth
from loggerd.core.samples import Quality, Reading, Sample
from loggerd.drivers.base import DeviceInfo, Driver, DriverConfig, PointInfo
from loggerd.link.lines import LinePool

BINDINGS = [ChannelBinding("t", "t")]


class SlowDriver(Driver):
    """Each read takes `read_s` (a slow device, or a line busy elsewhere)."""

    config_model = DriverConfig

    def __init__(self, read_s: float = 0.0) -> None:
        super().__init__(DriverConfig(), LinePool())
        self.read_s = read_s
        self.reads = 0

    @classmethod
    def points_for(cls, config: DriverConfig) -> Sequence[PointInfo]:
        return [PointInfo("t", "temperature", "degC")]

    def open(self) -> DeviceInfo:
        return DeviceInfo("slow", "1", "0", 1)

    def read(self, groups: Collection[str] | None = None) -> list[Reading]:
        self.reads += 1
        if self.reads == 2:
            time.sleep(self.read_s)  # sync-ok: the device is slow, no test waits on this
        return [Reading("t", 20.0, 20.0, Quality.GOOD)]

    def close(self) -> None:
        pass


class Collected:
    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.changed = asyncio.Event()

    async def __call__(self, samples: list[Sample]) -> None:
        self.samples.extend(samples)
        self.changed.set()

    async def until(self, count: int) -> None:
        async with asyncio.timeout(20):
            while len(self.samples) < count:
                self.changed.clear()
                await self.changed.wait()


def test_devices_have_their_own_phase_fixed_by_their_name() -> None:
    """200 loggers polled every second do not all start in one burst: their phases spread
    over the interval, and are the same whenever the daemon starts."""
    pollers = [
        DevicePoller("rack", f"logger-{i}", SlowDriver(), BINDINGS, 1.0, Collected())
        for i in range(200)
    ]
    phases = sorted(p.phase_s for p in pollers)
    assert all(0 <= phase < 1.0 for phase in phases)
    assert max(b - a for a, b in itertools.pairwise(phases)) < 0.05  # no gap > 50 ms
    again = DevicePoller("rack", "logger-7", SlowDriver(), BINDINGS, 1.0, Collected())
    assert again.phase_s == pollers[7].phase_s
    assert DevicePoller("rack", "logger-7", SlowDriver(), BINDINGS, 4.0, Collected()).phase_s == (
        4 * pollers[7].phase_s
    )


async def test_polls_start_at_the_devices_phase() -> None:
    got = Collected()
    async with DevicePoller("rack", "logger-7", SlowDriver(), BINDINGS, 0.2, got) as poller:
        task = asyncio.create_task(poller.run())
        await got.until(4)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # A poll's timestamp is the middle of its read, a few ms after its tick.
    for s in got.samples:
        after_tick_s = (s.timestamp_us / 1e6 - poller.phase_s) % 0.2
        assert after_tick_s < 0.05, (s.timestamp_us, poller.phase_s)
    assert poller.health.poll_lateness_ms_p99 is not None
    assert poller.health.poll_lateness_ms_p99 < 50


async def test_a_tick_that_could_not_be_polled_is_recorded_at_its_time() -> None:
    """The second read takes 0.35 s of a 0.1 s interval: the three ticks it covers are
    history's too, as samples of quality `skipped` at their times, and counted in health."""
    got = Collected()
    driver = SlowDriver(read_s=0.35)
    async with DevicePoller("rack", "slow", driver, BINDINGS, 0.1, got) as poller:
        task = asyncio.create_task(poller.run())
        await got.until(7)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    qualities = [s.quality for s in got.samples]
    skipped = [s for s in got.samples if s.quality is Quality.SKIPPED]
    assert qualities[:2] == [Quality.GOOD, Quality.GOOD]
    assert len(skipped) == poller.health.missed_ticks >= 3
    assert all(s.value != s.value for s in skipped)  # no value: NaN
    times = [s.timestamp_us for s in skipped]
    assert all(b - a == 100_000 for a, b in itertools.pairwise(times))  # one per tick
    # Each at its tick: the device's phase, as the good polls around them.
    assert all(abs((t / 1e6 - poller.phase_s + 0.05) % 0.1 - 0.05) < 1e-3 for t in times)
    assert qualities[qualities.index(Quality.SKIPPED) + len(skipped)] is Quality.GOOD


class Downloading:
    """What a poller asks of a memory follower, with a download under way."""

    def __init__(self, budgets: list[float]) -> None:
        self.health = BackfillHealth(state="downloading")
        self.budgets = budgets
        self.inflight = None

    def connected(self) -> None:
        pass

    def step_due(self) -> bool:
        return True

    async def step(self, budget_s: float) -> None:
        self.budgets.append(budget_s)

    async def aclose(self) -> None:
        pass


async def test_downloads_on_one_line_share_its_backfill_budget() -> None:
    """Three loggers downloading on one line get a third of its share each, not a share
    each (which would be 1.5 x the interval)."""
    budgets: list[float] = []
    followers: list[Any] = [Downloading(budgets) for _ in range(3)]
    polled = [
        DevicePoller(
            "rack",
            f"logger-{i}",
            SlowDriver(),
            BINDINGS,
            1.0,
            Collected(),
            follower=followers[i],
            live_sink=Collected(),
            backfill_duty=0.5,
            line_followers=followers,
        )
        for i in range(3)
    ]
    for poller in polled:
        async with poller:
            await poller.poll_once()
    assert len(budgets) == 3
    assert all(0.1 < b <= 0.5 / 3 for b in budgets), budgets
    followers[1].health.state = "following"  # its download is done: the others share
    budgets.clear()
    async with DevicePoller(
        "rack",
        "logger-0",
        SlowDriver(),
        BINDINGS,
        1.0,
        Collected(),
        follower=followers[0],
        live_sink=Collected(),
        line_followers=followers,
    ) as again:
        await again.poll_once()
    assert 0.2 < budgets[0] <= 0.25


def test_a_lines_downloads_are_counted_once_for_all_its_polls() -> None:
    now = [0.0]
    followers: list[Any] = [Downloading([]) for _ in range(3)]
    downloads = LineDownloads(followers, every_s=0.5, monotonic=lambda: now[0])
    assert downloads.under_way() == 3
    followers[0].health.state = "following"
    now[0] = 0.4
    assert downloads.under_way() == 3  # counted at 0 s: the same for every poll till 0.5 s
    now[0] = 0.5
    assert downloads.under_way() == 2
    downloads.append(Downloading([]))
    assert downloads.under_way() == 3  # a follower added is counted at once


class Stuck(Downloading):
    """A follower whose step waits until released: its requests queue behind a busy line."""

    def __init__(self) -> None:
        super().__init__([])
        self.release = asyncio.Event()
        self.steps = 0
        self.ended = 0

    async def step(self, budget_s: float) -> None:
        self.steps += 1
        await self.release.wait()
        self.ended += 1


async def test_a_memory_step_that_takes_long_costs_the_device_no_tick() -> None:
    """The device polled every 0.05 s while its follower's step is held for ten ticks: every
    tick is polled (none skipped), and no second step starts beside the one under way."""
    follower: Any = Stuck()
    live = Collected()
    async with DevicePoller(
        "rack",
        "logger-0",
        SlowDriver(),
        BINDINGS,
        0.05,
        Collected(),
        follower=follower,
        live_sink=live,
    ) as poller:
        task = asyncio.create_task(poller.run())
        await live.until(10)
        assert follower.steps == 1 and follower.ended == 0  # still held
        follower.release.set()
        await live.until(len(live.samples) + 3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert poller.health.missed_ticks == 0
    assert all(s.quality is Quality.GOOD for s in live.samples)
    assert follower.steps >= 2  # stepping again once the first had ended
    assert follower.ended == follower.steps or follower.ended == follower.steps - 1


async def test_a_follower_with_nothing_due_is_not_stepped() -> None:
    """A follower that has caught up (no record can be new yet) gets no step, and so costs its
    device's poll no task; once one is due, the next poll steps it."""
    follower: Any = Downloading([])
    follower.health.state = "following"
    due = [False]
    follower.step_due = lambda: due[0]
    live = Collected()
    async with DevicePoller(
        "rack", "logger-0", SlowDriver(), BINDINGS, 1.0, Collected(),
        follower=follower, live_sink=live,
    ) as poller:  # fmt: skip
        await poller.poll_once(follow_apart=True)
        assert poller._following is None and follower.budgets == []
        due[0] = True
        await poller.poll_once(follow_apart=True)
        assert poller._following is not None
        await poller._following
    assert len(follower.budgets) == 1
