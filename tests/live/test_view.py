"""The live view in shared memory: written by one process, read whole by others, never torn."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys

import numpy as np
import pytest

from loggerd.core.channels import Channel
from loggerd.core.samples import Quality, Sample, TimeSource
from loggerd.live.memory import SharedBlock
from loggerd.live.view import LiveHandle, LiveView

CHANNELS = [
    Channel("c1", "air", "logger", "temperature_1", "temperature", "degC"),
    Channel("c1", "dew", "derived", "dew_point", "dew_point", "degC"),
    Channel("c2", "rh", "logger", "rh", "relative_humidity", "%RH"),
]


def whole(ts: int) -> Sample:
    return Sample(
        "c1",
        "dew",
        ts,
        -41.25,
        -41.25,
        Quality.SUPERSATURATED,
        TimeSource.LOGGER,
        sequence=77,
        calibration_version=3,
        uncertainty=0.35,
        method="hardy1998",
        clock_offset_us=-1200,
    )


def test_latest_is_the_newest_sample_whole_and_none_before_any() -> None:
    live = LiveView.create(CHANNELS, ring_size=8)
    try:
        before = live.latest("c1")
        assert before is not None and [r.sample for r in before] == [None, None]
        assert live.latest("nowhere") is None
        air = Sample("c1", "air", 1_000, 21.5, 21.4, Quality.GOOD, TimeSource.HOST)
        live.accept([air, whole(2_000), whole(1_500)])  # the older one does not win
        readings = live.latest("c1")
        assert readings is not None
        assert [r.channel.channel_id for r in readings] == ["air", "dew"]
        assert readings[0].sample == air
        assert readings[1].sample == whole(2_000)
        assert live.ring("c1", "dew").last().timestamp_us.tolist() == [2_000]
    finally:
        live.close()


def test_a_sample_of_an_unknown_channel_is_left_out() -> None:
    live = LiveView.create(CHANNELS[:1], ring_size=4)
    try:
        live.accept([Sample("c1", "other", 1, 1.0, 1.0, Quality.GOOD, TimeSource.HOST)])
        readings = live.latest("c1")
        assert readings is not None and readings[0].sample is None
    finally:
        live.close()


READER = """
import pickle, sys
from loggerd.live.view import LiveView
live = LiveView.attach(pickle.loads(bytes.fromhex(sys.argv[1])))
readings = live.latest("c1")
print(repr([r.sample for r in readings]))
try:
    live.ring("c1", "air")._value[0] = 1.0
except ValueError:
    print("read-only")
"""


def test_another_process_reads_it_read_only() -> None:
    import pickle

    live = LiveView.create(CHANNELS, ring_size=8)
    try:
        live.accept([whole(5_000)])
        handle = pickle.dumps(live.handle()).hex()
        out = subprocess.run(
            [sys.executable, "-c", READER, handle],
            pass_fds=[live.handle().fd],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.splitlines()
        assert out == [repr([None, whole(5_000)]), "read-only"]
    finally:
        live.close()


def _write_forever(handle: LiveHandle, ring_size: int) -> None:
    """In a forked child: the block is mapped there too, writable (the parent created it)."""
    live = LiveView(handle.layout, _writable(handle))
    ts = 1
    while True:
        # value and raw value say which timestamp they belong to: a torn read shows
        live.accept(
            [
                Sample("c1", "air", ts, ts * 0.5, ts * 0.25, Quality.GOOD, TimeSource.HOST),
                Sample("c1", "dew", ts, ts * 0.5, ts * 0.25, Quality.GOOD, TimeSource.HOST),
            ]
        )
        ts += 1


def _writable(handle: LiveHandle) -> SharedBlock:
    return SharedBlock(os.dup(handle.fd), handle.layout.nbytes, writable=True)


def test_a_reader_never_sees_a_window_or_a_row_half_written() -> None:
    ring_size = 64
    live = LiveView.create(CHANNELS, ring_size=ring_size)
    writer = mp.get_context("fork").Process(
        target=_write_forever, args=(live.handle(), ring_size), daemon=True
    )
    writer.start()
    try:
        ring = live.ring("c1", "air")
        windows = rows = 0
        while windows < 3000 or len(ring) < ring_size:
            w = ring.last()
            ts = w.timestamp_us.astype(np.float64)
            assert np.array_equal(w.value, (ts * 0.5).astype(np.float32))
            assert np.array_equal(w.raw_value, (ts * 0.25).astype(np.float32))
            assert np.all(np.diff(w.timestamp_us) == 1)  # in order, nothing of another lap
            windows += 1
            readings = live.latest("c1")
            assert readings is not None
            for r in readings:
                if r.sample is not None:
                    assert r.sample.value == r.sample.timestamp_us * 0.5
                    assert r.sample.raw_value == r.sample.timestamp_us * 0.25
                    rows += 1
        assert rows > 0
    finally:
        writer.kill()
        writer.join()
        live.close()


def test_the_block_is_reserved_whole_or_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from loggerd.core.errors import LoggerdError
    from loggerd.live import memory

    def no_room(fd: int, offset: int, length: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(memory.os, "posix_fallocate", no_room)
    with pytest.raises(LoggerdError, match=r"live view needs .* MB .*lower ring_size"):
        LiveView.create(CHANNELS, ring_size=1000)


def test_layout_size_counts_every_array() -> None:
    live = LiveView.create(CHANNELS, ring_size=100)
    try:
        # 17 bytes a sample per channel, plus a state and a newest row per channel
        assert live.layout.nbytes >= 3 * 100 * 17
        assert live.block.size == live.layout.nbytes
    finally:
        live.close()
