"""How fully does loggerd use an RS-485 line, and does it stay correct when the line misbehaves?

Runs on the simulator's emulated wire (a pty whose replies are paced as characters of the
line's framing at its baud, with the 3.5-character silences and a device turnaround). The
simulator runs in a separate process, as a device would, so that its timing does not share
our GIL.

1. wire_limit_ratio: FC03 reads of 2, 10 and 60 registers at 9600, 19200 and 115200 baud,
   on 8E1 (11-bit characters) and 8N1 (10-bit), back to back through loggerd's Modbus master;
   achieved transactions per second divided by the line's theoretical limit, computed here
   from the Modbus serial-line spec (V1.02, section 2.5.1.1) and not from loggerd's code:
   (request + reply bytes) * bits per character / baud + two 3.5-character silences (1.75 ms
   each above 19200 baud) + the simulated device's turnaround. The minimum over the cases is
   reported, overall and per framing.
2. dead_peer_schedule_ratio: 8 reference loggers on one line, one of them dead; the fraction
   of the 7 healthy devices' scheduled polls that completed before their next tick.
3. fault_corrupt_values: 4 loggers with 5 % corrupted CRCs, 2 % dropped and 1 % late
   replies; every good sample is compared with what the simulator answered (its ground
   truth): a value that no on-time answer of that device carried counts as corrupt.

    python -m benchmarks.serial_bus [--quick]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import struct
import time
from collections import defaultdict
from multiprocessing.connection import Connection
from typing import Any

from loggerd.acquisition.poller import ChannelBinding, DevicePoller, PollPolicy
from loggerd.core.samples import Quality, Sample
from loggerd.link.lines import LinePool
from loggerd.link.transport import SerialSettings
from loggerd.modbus.lines import LineSettings, modbus_master
from loggerd.modbus.master import ModbusMaster
from loggerd_drivers.reference_modbus import ReferenceModbusConfig, ReferenceModbusDriver
from loggerd_protocol import modbus as mb
from loggerd_protocol.definition import reference_logger
from loggerd_sim.faults import FaultRates
from loggerd_sim.host import SimOptions, SimulatorHost
from loggerd_sim.modbus_server import ModbusRtuPtyServer
from loggerd_sim.register_bank import RegisterBank

TURNAROUND_S = 0.002
DEFN = reference_logger()


# --- the simulator's process ------------------------------------------------------------------


def _serve(kind: str, options: dict[str, Any], conn: Connection) -> None:
    async def main() -> None:
        if kind == "bank":
            server = ModbusRtuPtyServer(
                {1: RegisterBank()},
                options["baudrate"],
                turnaround_s=TURNAROUND_S,
                bits_per_character=options["bits_per_character"],
            )
            await server.start()
            conn.send(server.url)
            await asyncio.to_thread(conn.recv)
            await server.stop()
            return
        host = SimulatorHost(SimOptions(**options))
        await host.start()
        assert host.rtu is not None
        conn.send(host.rtu.url)
        await asyncio.to_thread(conn.recv)
        answers = host.faults.answers if host.faults is not None else []
        conn.send([(a.unit, a.response_pdu, a.fault) for a in answers])
        await host.stop()

    asyncio.run(main())


class SimProcess:
    def __init__(self, kind: str, **options: Any) -> None:
        self.conn, child = mp.Pipe()
        self.proc = mp.get_context("fork").Process(target=_serve, args=(kind, options, child))
        self.proc.start()
        self.url: str = self.conn.recv()

    def stop(self) -> Any:
        self.conn.send("stop")
        result = self.conn.recv() if self.proc.is_alive() else None
        self.proc.join(10)
        return result

    def stop_quiet(self) -> None:
        self.conn.send("stop")
        self.proc.join(10)


# --- 1. wire limit ------------------------------------------------------------------------


FRAMINGS = {"8e1": ("E", 1), "8n1": ("N", 1)}


def limit_tps(baudrate: int, count: int, parity: str, stopbits: int) -> float:
    """The most FC03 transactions a second the line can carry (Modbus serial line V1.02)."""
    bits = 1 + 8 + (parity != "N") + stopbits  # start, data, parity, stop
    silence_s = 3.5 * bits / baudrate if baudrate <= 19200 else 1.75e-3
    request, reply = 8, 5 + 2 * count  # addr fc start count crc; addr fc n data crc
    period = (request + reply) * bits / baudrate + 2 * silence_s
    return 1.0 / (period + TURNAROUND_S)


def wire_case(framing: str, baudrate: int, count: int, seconds: float) -> dict[str, Any]:
    parity, stopbits = FRAMINGS[framing]
    sim = SimProcess(
        "bank", baudrate=baudrate, bits_per_character=1 + 8 + (parity != "N") + stopbits
    )
    pool = LinePool()
    try:
        master: ModbusMaster = modbus_master(
            pool,
            sim.url,
            LineSettings(SerialSettings(baudrate=baudrate, parity=parity, stopbits=stopbits)),
        )
        master.read_registers(1, mb.READ_HOLDING, 0, count, 1.0)  # open the port, warm up
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            values = master.read_registers(1, mb.READ_HOLDING, 0, count, 1.0)
            n += 1
        elapsed = time.perf_counter() - t0
        assert values == tuple(range(count))
    finally:
        pool.close()
        sim.stop_quiet()
    achieved = n / elapsed
    limit = limit_tps(baudrate, count, parity, stopbits)
    return {
        "framing": framing,
        "baudrate": baudrate,
        "registers": count,
        "transactions": n,
        "achieved_tps": round(achieved, 1),
        "limit_tps": round(limit, 1),
        "ratio": round(achieved / limit, 3),
    }


# --- 2 and 3: pollers on one line -------------------------------------------------------------

BINDINGS = [ChannelBinding("t1", "temperature_1"), ChannelBinding("rh", "rh")]


async def run_pollers(
    url: str,
    addresses: list[int],
    baudrate: int,
    interval_s: float,
    seconds: float,
    timeout_s: float,
    retries: int,
    guard_s: float,
) -> tuple[dict[int, list[tuple[float, int, list[Sample]]]], list[DevicePoller]]:
    pool = LinePool()
    got: dict[int, list[tuple[float, int, list[Sample]]]] = defaultdict(list)
    pollers = []
    by_address: dict[int, DevicePoller] = {}
    loop = asyncio.get_running_loop()
    for address in addresses:
        config = ReferenceModbusConfig(
            url=url,
            address=address,
            baudrate=baudrate,
            parity="N",
            timeout_s=timeout_s,
            late_reply_guard_s=guard_s,
        )
        driver = ReferenceModbusDriver(config, pool)

        def sink_for(a: int) -> Any:
            async def sink(samples: list[Sample]) -> None:
                # The tick this poll belongs to: polls so far plus the ticks skipped before it.
                tick = len(got[a]) + by_address[a].health.missed_ticks
                got[a].append((loop.time(), tick, samples))

            return sink

        by_address[address] = DevicePoller(
            "bench",
            f"logger-{address}",
            driver,
            BINDINGS,
            interval_s,
            sink_for(address),
            policy=PollPolicy(retries=retries),
        )
        pollers.append(by_address[address])
    t0 = loop.time()
    tasks = [asyncio.create_task(p.run()) for p in pollers]
    await asyncio.sleep(seconds)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    pool.close()
    for a in got:
        got[a] = [(t - t0, tick, s) for t, tick, s in got[a]]
    return got, pollers


def dead_peer(seconds: float) -> dict[str, float]:
    baudrate, interval_s = 38400, 1.0
    healthy = [1, 2, 3, 4, 5, 6, 7]
    sim = SimProcess(
        "host",
        addresses=tuple(healthy),
        tcp=False,
        baudrate=baudrate,
        parity="N",
        interval_s=10,
        speed=1.0,
    )
    try:
        got, pollers = asyncio.run(
            run_pollers(sim.url, [*healthy, 8], baudrate, interval_s, seconds, 0.2, 1, 0.05)
        )
    finally:
        sim.stop()
    scheduled = on_time = 0
    for address in healthy:
        polls = got[address]
        ticks = int(seconds / interval_s)
        scheduled += ticks
        # the poll of tick k is due at k * interval; on time if it completed before tick k + 1
        on_time += sum(
            1
            for t, k, samples in polls
            if k < ticks
            and t < (k + 1) * interval_s
            and all(s.quality is Quality.GOOD for s in samples)
        )
    dead = next(p for p in pollers if p.device_id == "logger-8")
    return {
        "devices": 8,
        "dead": 1,
        "baudrate": baudrate,
        "interval_s": interval_s,
        "seconds": seconds,
        "scheduled_polls": scheduled,
        "on_time_polls": on_time,
        "dead_peer_failed_polls": dead.health.reads_failed,
        "dead_peer_quarantines": dead.health.quarantines,
        "dead_peer_schedule_ratio": round(on_time / scheduled, 4),
    }


def faults(seconds: float) -> dict[str, Any]:
    baudrate = 115200
    addresses = [1, 2, 3, 4]
    rates = FaultRates(crc=0.05, drop=0.02, late=0.01, late_delay_s=0.25)
    sim = SimProcess(
        "host",
        addresses=tuple(addresses),
        tcp=False,
        baudrate=baudrate,
        parity="N",
        interval_s=10,
        speed=100.0,
        faults=rates,
        fault_seed=1,
    )
    try:
        got, _ = asyncio.run(run_pollers(sim.url, addresses, baudrate, 0.25, seconds, 0.2, 1, 0.1))
    finally:
        answers = sim.stop()
    t1 = DEFN.field("temperature_1")
    live0 = DEFN.field("temperature_1").address
    # float32 bit patterns: loggerd keeps a float32 as its shortest decimal, the same float32
    truthful: dict[int, set[bytes]] = defaultdict(set)
    by_fault: dict[str, int] = defaultdict(int)
    for unit, pdu, fault in answers:
        by_fault[str(fault)] += 1
        if fault not in (None, "garbage") or pdu[0] != mb.READ_INPUT or pdu[1] < 4 * 2:
            continue
        words = struct.unpack(f">{pdu[1] // 2}H", pdu[2:])
        truthful[unit].add(struct.pack(">HH", *words[t1.address - live0 : t1.address - live0 + 2]))
    good = corrupt = missing = 0
    for address, polls in got.items():
        for _, _, samples in polls:
            for s in samples:
                if s.channel_id != "t1":
                    continue
                if s.quality is Quality.GOOD:
                    good += 1
                    if struct.pack(">f", s.value) not in truthful[address]:
                        corrupt += 1
                else:
                    assert math.isnan(s.value)
                    missing += 1
    return {
        "devices": len(addresses),
        "baudrate": baudrate,
        "seconds": seconds,
        "answers": len(answers),
        "faults_injected": dict(by_fault),
        "good_values": good,
        "missing_values": missing,
        "fault_corrupt_values": corrupt,
    }


def worst_by_framing(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Per framing, the case furthest from its limit: its ratio, rate, baud and request size."""
    keys: dict[str, Any] = {}
    for framing in FRAMINGS:
        worst = min((c for c in cases if c["framing"] == framing), key=lambda c: c["ratio"])
        keys[f"wire_limit_ratio_{framing}"] = worst["ratio"]
        keys[f"wire_limit_tx_per_s_{framing}"] = worst["achieved_tps"]
        keys[f"wire_limit_baud_{framing}"] = worst["baudrate"]
        keys[f"wire_limit_registers_{framing}"] = worst["registers"]
    return keys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="shorter runs (for a smoke test)")
    args = parser.parse_args()
    seconds = 1.0 if args.quick else 3.0
    cases = [
        wire_case(f, b, c, seconds)
        for f in FRAMINGS
        for b in (9600, 19200, 115200)
        for c in (2, 10, 60)
    ]
    for c in cases:
        print(
            f"FC03 x{c['registers']:>2} @ {c['baudrate']:>6} baud {c['framing'].upper()}: "
            f"{c['achieved_tps']:>6} tx/s "
            f"of {c['limit_tps']:>6} possible ({c['ratio']:.3f})",
            flush=True,
        )
    dead = dead_peer(10.0 if args.quick else 30.0)
    print(
        f"dead peer: {dead['on_time_polls']}/{dead['scheduled_polls']} healthy polls on time",
        flush=True,
    )
    fault = faults(10.0 if args.quick else 30.0)
    print(
        f"faults: {fault['faults_injected']}; {fault['good_values']} good values, "
        f"{fault['missing_values']} missing, {fault['fault_corrupt_values']} corrupt",
        flush=True,
    )
    print(
        json.dumps(
            {
                "wire_limit_ratio": min(c["ratio"] for c in cases),
                **worst_by_framing(cases),
                "wire_cases": cases,
                "dead_peer_schedule_ratio": dead["dead_peer_schedule_ratio"],
                "dead_peer": dead,
                "fault_corrupt_values": fault["fault_corrupt_values"],
                "faults": fault,
                "targets": {
                    "wire_limit_ratio": 0.9,
                    "wire_limit_ratio_8e1": 0.9,
                    "wire_limit_ratio_8n1": 0.9,
                    "dead_peer_schedule_ratio": 0.95,
                    "fault_corrupt_values": 0,
                },
            }
        )
    )


if __name__ == "__main__":
    main()
