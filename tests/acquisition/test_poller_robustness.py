"""A broken driver (one raising what no driver should) costs readings, never the poller."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

from loggerd.acquisition.poller import ChannelBinding, DevicePoller
from loggerd.core.samples import Quality, Reading, Sample
from loggerd.drivers.base import DeviceInfo, Driver, DriverConfig, PointInfo
from loggerd.link.lines import LinePool


class BrokenDriver(Driver):
    """Answers every other read, and raises ValueError (a bug) in between."""

    config_model = DriverConfig

    def __init__(self) -> None:
        super().__init__(DriverConfig(), LinePool())
        self.reads = 0

    @classmethod
    def points_for(cls, config: DriverConfig) -> Sequence[PointInfo]:
        return [PointInfo("t", "temperature", "degC")]

    def open(self) -> DeviceInfo:
        return DeviceInfo("broken", "1", "0", 1)

    def read(self, groups: Collection[str] | None = None) -> list[Reading]:
        self.reads += 1
        if self.reads % 2 == 0:
            raise ValueError("a bug in a third-party driver")
        return [Reading("t", 21.5, 21.5, Quality.GOOD)]

    def close(self) -> None:
        pass


async def test_a_driver_bug_is_a_bad_read_and_polling_goes_on() -> None:
    got: list[Sample] = []

    async def sink(samples: list[Sample]) -> None:
        got.extend(samples)

    driver = BrokenDriver()
    async with DevicePoller("c", "d", driver, [ChannelBinding("t", "t")], 1.0, sink) as poller:
        for _ in range(4):
            await poller.poll_once()
        assert [s.quality for s in got] == [Quality.GOOD, Quality.INVALID] * 2
        assert math.isnan(got[1].value) and got[0].value == 21.5
        assert poller.health.errors_by_kind == {"ProtocolError": 2}
        assert "a bug in a third-party driver" in (poller.health.last_error or "")
