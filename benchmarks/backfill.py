"""How fast does loggerd download a logger's memory into the store?

A simulated logger (Modbus TCP, in this process, on a manual clock) holds N records. Baseline:
the reference-modbus driver alone reads them all, window after window, and does nothing else.
Then the daemon downloads the same memory from an empty store — through the follower, the
processing, the spool and the store (SQLite) — with backfill_duty 1.0, and the time until the
last record is in the store is measured.

    python -m benchmarks.backfill [--records 20000] [--derived 2] [--repeat 3]

`--derived N` adds N derived channels computed from temperature_1 and rh (the Td/f, the dew
point, ppmv, the mixing ratio), as a chamber with a humidity probe has them.

The last line printed is one JSON object: records per second for both
(`driver_records_per_s`, `loggerd_records_per_s`), and their `ratio` (the cost of everything
between the wire and the disk); the older names of the first and the last are kept beside them.
With `--repeat N` the driver and loggerd run N times in turn, and the figures are medians (the
ratio the median of each pair's). `cpu_ratio` compares the process's CPU time a record, which
other processes' load moves less than it moves the rates.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import tempfile
import time
from pathlib import Path

from loggerd.link.lines import LinePool
from loggerd.service.config import parse_config
from loggerd.service.daemon import Daemon
from loggerd.service.heap import freeze_start_up_objects
from loggerd_drivers.reference_modbus import ReferenceModbusConfig, ReferenceModbusDriver
from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.logger import ManualClock

CHANNELS = [*(f"temperature_{i}" for i in range(1, 9)), "rh", "frost_point"]


# Derived channels --derived adds, in this order: valid at any temperature of the chamber.
DERIVED = ["frost_dew_point", "dew_point", "ppmv", "mixing_ratio"]


def config_text(data_dir: Path, url: str, derived: int = 0) -> str:
    channels = "".join(f'[[chamber.device.channel]]\nid = "{p}"\npoint = "{p}"\n' for p in CHANNELS)
    derived_channels = "".join(
        f'[[chamber.derived]]\nid = "derived_{q}"\nquantity = "{q}"\n'
        'temperature = "temperature_1"\nrh = "rh"\n'
        for q in DERIVED[:derived]
    )
    return (
        f'data_dir = "{data_dir.as_posix()}"\n[store]\nflush_interval_s = 0.2\n\n'
        '[[chamber]]\nid = "c"\n[[chamber.device]]\nid = "logger"\n'
        f'driver = "reference-modbus"\nurl = "{url}"\naddress = 1\n'
        "poll_interval_s = 1.0\nbackfill_duty = 1.0\n" + channels + derived_channels
    )


def baseline(url: str, newest: int) -> tuple[float, float]:
    """Records per second read by the driver alone, and the process's CPU seconds a record
    (the simulator's, on the event loop, and the driver's)."""
    driver = ReferenceModbusDriver(ReferenceModbusConfig(url=url, address=1), LinePool())
    try:
        driver.open()
        freeze_start_up_objects()  # as loggerd's run below (the simulator's memory too)
        started, cpu = time.perf_counter(), time.process_time()
        first = 1
        while first <= newest:
            records = driver.read_records(first, 100)
            first = records[-1].sequence + 1
        elapsed = time.perf_counter() - started
        return newest / elapsed, (time.process_time() - cpu) / newest
    finally:
        gc.unfreeze()
        driver.lines.close()


async def through_loggerd(url: str, newest: int, derived: int = 0) -> dict[str, float]:
    """Start to last record stored (start-up and the clock check included), and the steady
    rate from the first record handed on to the last one stored."""
    with tempfile.TemporaryDirectory() as tmp:
        daemon = Daemon(parse_config(config_text(Path(tmp), url, derived), "bench.toml"))
        (poller,) = daemon.pollers
        assert poller.follower is not None
        h = poller.follower.health
        started = time.perf_counter()
        first_record = None
        await daemon.start()
        freeze_start_up_objects()  # as `loggerd run` does once started (service/runtime.py)
        try:
            while (h.cursor or 0) < newest:
                await daemon.wait_accepted(daemon.accepted + 1)
                if first_record is None and h.cursor is not None:
                    first_record = time.perf_counter(), h.cursor, time.process_time()
            downloaded = time.perf_counter() - started
            await daemon.writer.flushed()
            stored = time.perf_counter() - started
            assert first_record is not None
            steady = (newest - first_record[1]) / (time.perf_counter() - first_record[0])
            cpu = (time.process_time() - first_record[2]) / (newest - first_record[1])
            count = daemon.store.count()
        finally:
            gc.unfreeze()
            await daemon.stop()
    assert count >= newest * (len(CHANNELS) + derived), (count, newest)
    return {
        "download_s": downloaded,
        "stored_s": stored,
        "steady_records_per_s": steady,
        "cpu_s_per_record": cpu,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--derived", type=int, default=0, choices=range(len(DERIVED) + 1))
    parser.add_argument(
        "--repeat", type=int, default=1, help="pairs of runs (driver, loggerd); medians reported"
    )
    args = parser.parse_args()
    clock = ManualClock()
    sim = SimulatorHost(SimOptions(addresses=(1,), interval_s=1, rtu=False), clock=clock)
    await sim.start()
    try:
        assert sim.tcp is not None
        clock.advance(args.records - 1)
        logger = sim.loggers[1]
        logger.sync()
        newest = logger.memory[-1].sequence
        pairs = []
        for _ in range(args.repeat):
            # Each pair close in time: on a shared machine the load moves between runs.
            driver = await asyncio.to_thread(baseline, sim.tcp.url, newest)
            pairs.append((driver, await through_loggerd(sim.tcp.url, newest, args.derived)))
    finally:
        await sim.stop()
    raw = statistics.median(d[0] for d, _ in pairs)
    rate = statistics.median(o["steady_records_per_s"] for _, o in pairs)
    ratios = [o["steady_records_per_s"] / d[0] for d, o in pairs]
    cpu_ratios = [d[1] / o["cpu_s_per_record"] for d, o in pairs]
    result = {
        "records": newest,
        "channels": len(CHANNELS),
        "derived_channels": args.derived,
        "runs": args.repeat,
        "driver_records_per_s": round(raw, 1),
        "baseline_driver_records_per_s": round(raw, 1),
        "loggerd_records_per_s": round(rate, 1),
        "loggerd_samples_per_s": round(rate * (len(CHANNELS) + args.derived), 1),
        "loggerd_start_to_all_stored_s": round(
            statistics.median(o["stored_s"] for _, o in pairs), 2
        ),
        "ratio": round(statistics.median(ratios), 3),
        "ratio_vs_driver_alone": round(statistics.median(ratios), 3),
        "ratios": [round(r, 3) for r in ratios],
        "full_memory_100k_records_min": round(100_000 / rate / 60, 1),
        # CPU seconds of the whole process a record (the simulator's included in both): less
        # moved by other processes' load than the rates, on a shared machine.
        "driver_cpu_us_per_record": round(1e6 * statistics.median(d[1] for d, _ in pairs), 1),
        "loggerd_cpu_us_per_record": round(
            1e6 * statistics.median(o["cpu_s_per_record"] for _, o in pairs), 1
        ),
        "cpu_ratio": round(statistics.median(cpu_ratios), 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
