"""The `loggerd` command: demo, run, sim, config check, drivers, db upgrade, export."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loggerd import __version__
from loggerd.core.errors import ConfigError, LoggerdError
from loggerd.drivers.registry import available_drivers
from loggerd.service.config import load_config, parse_config

if TYPE_CHECKING:
    from loggerd.service.config import DaemonConfig
    from loggerd.service.runtime import Service
    from loggerd.storage.store import Store

log = logging.getLogger("loggerd")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # Alembic narrates every migration step at INFO; loggerd says what matters itself.
        logging.getLogger("alembic").setLevel(logging.WARNING)


DEMO_TRANSMITTER_ADDRESS = 240


def demo_config_text(rtu_path: str, tcp_url: str, data_dir: Path, host: str, port: int) -> str:
    """Two chambers: a logger and a humidity transmitter sharing the simulated RS-485 line,
    and a logger over Modbus TCP; derived humidity channels computed by loggerd."""
    channels = "".join(
        f'[[chamber.device.channel]]\nid = "{name}"\npoint = "{point}"\n\n'
        for name, point in [
            *((f"t{i}", f"temperature_{i}") for i in range(1, 9)),
            ("rh", "rh"),
            ("frost_point", "frost_point"),
        ]
    )
    return f"""# Written by `loggerd demo`: a simulated chamber rack. Copy it to start your own.
data_dir = "{data_dir.as_posix()}"
ring_size = 3600

[api]
host = "{host}"
port = {port}

[[chamber]]
id = "chamber-1"
name = "Climatic chamber 1 (logger on RS-485, Modbus RTU)"

# The logger's history is its own records (history = "memory", the default): after any
# outage loggerd downloads them from where the store's history ends. Live reads, every
# poll_interval_s, feed the live view (latest).
[[chamber.device]]
id = "logger-1"
driver = "reference-modbus"
url = "{rtu_path}"
address = 1
baudrate = 19200
parity = "E"
poll_interval_s = 1.0

{channels}# A Vaisala HMT330-class transmitter on the same RS-485 line, read through its profile.
[[chamber.device]]
id = "transmitter-1"
driver = "modbus-profile"
profile = "vaisala_hmt330"
url = "{rtu_path}"
address = {DEMO_TRANSMITTER_ADDRESS}
baudrate = 19200
parity = "E"
poll_interval_s = 1.0

[[chamber.device.channel]]
id = "rh_hmt"
point = "rh"

[[chamber.device.channel]]
id = "tdf_hmt"
point = "frost_point"

# Computed by loggerd from t1 and rh, with the formulation named; the logger's own frost
# point is cross-checked against it.
[[chamber.derived]]
id = "frost_point_calc"
quantity = "frost_dew_point"
temperature = "t1"
rh = "rh"
formulation = "hardy1998"
u_temperature_k = 0.1
u_rh_pct = 1.0
check = "frost_point"
check_limit = 0.1

[[chamber.derived]]
id = "h2o_ppmv"
quantity = "ppmv"
temperature = "t1"
rh = "rh"
pressure_hpa = 1013.25
u_temperature_k = 0.1
u_rh_pct = 1.0

[[chamber]]
id = "chamber-2"
name = "Climatic chamber 2 (logger on Ethernet, Modbus TCP)"

[[chamber.device]]
id = "logger-2"
driver = "reference-modbus"
url = "{tcp_url}"
address = 2
poll_interval_s = 1.0

{channels}"""


async def _demo(args: argparse.Namespace) -> int:
    from loggerd.service.daemon import Daemon
    from loggerd.service.runtime import install_stop_signals, serve
    from loggerd_sim.host import SimOptions, SimulatorHost

    stop = asyncio.Event()
    install_stop_signals(stop)
    sim = SimulatorHost(
        SimOptions(
            profile=args.profile,
            speed=args.speed,
            seed=args.seed,
            addresses=(1, 2),
            interval_s=args.interval,
            profile_devices={DEMO_TRANSMITTER_ADDRESS: "vaisala_hmt330"},
        )
    )
    await sim.start()
    try:
        assert sim.rtu is not None and sim.tcp is not None
        data_dir: Path = args.data_dir.resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        text = demo_config_text(sim.rtu.path, sim.tcp.url, data_dir, args.host, args.port)
        config_path = data_dir / "demo.toml"
        config_path.write_text(text, "utf-8")
        config = parse_config(text, str(config_path))
        daemon = Daemon(config)

        def ready(url: str) -> None:
            print(
                f"simulator: Modbus RTU on {sim.rtu.path if sim.rtu else '-'}, "
                f"Modbus TCP on {sim.tcp.url if sim.tcp else '-'} "
                f"(profile {sim.profile.name!r}, speed x{args.speed:g})",
                flush=True,
            )
            print(f"config:    {config_path}", flush=True)
            print(
                f"loggerd demo is running: {url}/api/v1/chambers  (API docs: {url}/docs)",
                flush=True,
            )
            print(f"  curl {url}/api/v1/chambers/chamber-1/latest", flush=True)
            print("Press Ctrl-C to stop.", flush=True)

        await serve(daemon, config.api.host, config.api.port, stop, ready)
    finally:
        await sim.stop()
    print(f"stopped; {daemon.writer.written} samples stored in {data_dir}", flush=True)
    return 0


async def _run(args: argparse.Namespace) -> int:
    """`loggerd run`: acquisition and the API."""
    from loggerd.service.daemon import Daemon

    config = load_config(args.config)
    return await _serve(args, config, Daemon(config), "loggerd")


async def _api(args: argparse.Namespace) -> int:
    """`loggerd api`: the API alone, in front of the configured store (a replica)."""
    from loggerd.service.replica import Replica

    config = load_config(args.config, devices=False)
    return await _serve(args, config, Replica(config), "loggerd API (no acquisition)")


async def _serve(
    args: argparse.Namespace, config: DaemonConfig, service: Service, what: str
) -> int:
    from loggerd.service.runtime import install_stop_signals, serve

    stop = asyncio.Event()
    install_stop_signals(stop)

    def ready(url: str) -> None:
        print(f"{what} is running: {url}/api/v1/chambers  (API docs: {url}/docs)", flush=True)

    await serve(
        service,
        args.host or config.api.host,
        config.api.port if args.port is None else args.port,
        stop,
        ready,
    )
    return 0


async def _sim(args: argparse.Namespace) -> int:
    from loggerd.service.runtime import install_stop_signals
    from loggerd_sim.host import SimOptions, SimulatorHost

    stop = asyncio.Event()
    install_stop_signals(stop)
    from loggerd_sim.faults import FaultRates

    addresses = tuple(int(a) for a in args.addresses.split(","))
    devices: dict[int, str] = {}
    for spec in args.device:
        address, sep, name = spec.partition("=")
        if not sep or not address.isdigit():
            raise ConfigError(
                f"--device {spec!r}: expected ADDRESS=PROFILE, e.g. 240=vaisala_hmt330"
            )
        devices[int(address)] = name
    try:
        faults = FaultRates.parse(args.faults) if args.faults else None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    options = SimOptions(
        profile=args.profile,
        speed=args.speed,
        seed=args.seed,
        addresses=addresses,
        channel_count=args.channels,
        interval_s=args.interval,
        capacity=args.capacity,
        clock_offset_s=args.clock_offset,
        clock_drift_ppm=args.clock_drift_ppm,
        tcp=not args.no_tcp,
        rtu=not args.no_rtu,
        host=args.host,
        tcp_port=args.tcp_port,
        baudrate=args.baud,
        turnaround_s=args.turnaround_ms / 1000,
        emulate_timing=not args.no_wire_timing,
        faults=faults,
        fault_seed=args.fault_seed,
        rtu_link=args.link,
        ascii=args.ascii,
        profile_devices=devices,
    )
    try:
        sim = SimulatorHost(options)
    except ValueError as exc:  # a setting the simulated loggers do not take
        raise ConfigError(f"simulator: {exc}") from None
    await sim.start()
    try:
        for name, url in sim.endpoints().items():
            print(f"{name}: {url}", flush=True)
        print(
            f"addresses: {', '.join(map(str, addresses))}; profile {sim.profile.name!r}; "
            f"speed x{args.speed:g}; seed {args.seed}. Ctrl-C stops.",
            flush=True,
        )
        await stop.wait()
    finally:
        await sim.stop()
    return 0


def _config_check(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    n_dev = sum(len(c.devices) for c in config.chambers)
    n_ch = sum(len(d.channels) for c in config.chambers for d in c.devices)
    print(f"{args.file}: OK ({len(config.chambers)} chambers, {n_dev} devices, {n_ch} channels)")
    return 0


def _store_from_args(args: argparse.Namespace) -> Store:
    from loggerd.service.stores import open_store
    from loggerd.storage.store import Store

    if args.url:
        return Store(args.url, schema=args.schema)
    if args.config is None:
        raise ConfigError("name the store: --config FILE or --url URL")
    return open_store(load_config(args.config))


def _db(args: argparse.Namespace) -> int:
    from loggerd.storage.store import head_revision

    store = _store_from_args(args)
    try:
        if args.db_command == "upgrade":
            revision = store.upgrade()
            print(f"{store.url}: schema at revision {revision} (newest)")
        else:
            current = store.revision()
            state = "newest" if current == head_revision() else "run `loggerd db upgrade`"
            print(f"{store.url}: schema at revision {current or 'none'} ({state})")
    finally:
        store.close()
    return 0


def _utc(name: str, value: str) -> int:
    """ISO 8601 to UTC µs; a time without an offset is UTC."""
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--{name} {value!r} is not an ISO 8601 time; use e.g. 2026-11-26T10:00:00Z"
        ) from None
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t
    return int(t.timestamp() * 1e6)


def _calibration_apply(args: argparse.Namespace) -> int:
    import time

    from loggerd.processing.calibration import CertificateError, correct, load_certificate
    from loggerd.service.stores import open_store

    config = load_config(args.config)
    try:
        cert = load_certificate(args.certificate)
    except CertificateError as exc:
        raise ConfigError(str(exc)) from None
    chamber = next((c for c in config.chambers if c.id == args.chamber), None)
    if chamber is None:
        raise ConfigError(f"{args.config}: no chamber {args.chamber!r}")
    channel = next(
        (ch for d in chamber.devices for ch in d.channels if ch.id == args.channel), None
    )
    if channel is None:
        raise ConfigError(
            f"{args.config}: chamber {args.chamber!r} has no channel {args.channel!r}"
        )
    probe = channel.probe_temperature_channel
    if cert.rows is not None and probe is None:
        raise ConfigError(
            f"certificate {cert.id!r} is a table in (RH, temperature): set "
            f"probe_temperature_channel of channel {args.channel!r} in {args.config}"
        )
    start_us = _utc("start", args.start) if args.start else 0
    end_us = _utc("end", args.end) if args.end else time.time_ns() // 1000 + 1

    def recorrect(raw: Any, probe_c: Any) -> Any:
        c = correct(cert, raw, probe_c if cert.rows is not None else None)
        return c.corrected, c.expanded_uncertainty, c.out_of_range, cert.version

    store = open_store(config)
    try:
        store.check_schema()
        n = store.recorrect(args.chamber, args.channel, recorrect, start_us, end_us, probe)
    finally:
        store.close()
    print(
        f"{args.chamber}/{args.channel}: {n} samples corrected again with certificate "
        f"{cert.id} version {cert.version}; raw values unchanged, rollups rebuilt"
    )
    if channel.certificate is None or channel.certificate.resolve() != args.certificate.resolve():
        print(
            f"note: {args.config} still names {channel.certificate or 'no certificate'} for "
            "this channel; point it at the new certificate for new samples"
        )
    return 0


def _past_due(args: argparse.Namespace, chamber_id: str) -> dict[str, bool] | None:
    """Per channel, whether its certificate is past due (known only from a configuration)."""
    if args.config is None:
        return None
    from loggerd.service.wiring import build_processors

    config = load_config(args.config)
    processor = build_processors(config.chambers).get(chamber_id)
    if processor is None:
        return None
    return {c: processor.past_due(c) for c in processor.calibrations}


def _export(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from loggerd.storage.export import export_chunks
    from loggerd.storage.store import StoreError

    start_us, end_us = _utc("start", args.start), _utc("end", args.end)
    if start_us >= end_us:
        raise ConfigError(f"--start {args.start} must be before --end {args.end}")
    store = _store_from_args(args)
    try:
        store.check_schema()
        metas = store.chamber_channels(args.chamber)
        if not metas:
            known = ", ".join(sorted(store.chamber_names())) or "none"
            raise StoreError(f"no chamber {args.chamber!r} in {store.url}; known: {known}")
        channel_ids = args.channel or [m.channel_id for m in metas]
        for c in channel_ids:
            store.channel(args.chamber, c)  # a clear error for an unknown channel
        total = store.count(args.chamber, channel_ids, start_us, end_us)
        out = args.file
        tqdm.monitor_interval = 0  # no monitor thread: the bar is updated every chunk anyway
        with (
            tqdm(total=total, unit="samples", unit_scale=True, desc=out.name) as bar,
            out.open("wb") as f,
        ):

            def progress(samples: int) -> None:
                bar.update(samples)

            for chunk in export_chunks(
                store,
                args.chamber,
                channel_ids,
                start_us,
                end_us,
                args.format,
                None,
                progress,
                _past_due(args, args.chamber),
            ):
                f.write(chunk)
        print(f"{out}: {total} samples of {', '.join(channel_ids)} ({args.format})")
    finally:
        store.close()
    return 0


async def _backfill(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from loggerd.service.manual import backfill

    config = load_config(args.config)
    since_us = None if args.since is None else _utc("since", args.since)
    tqdm.monitor_interval = 0
    with tqdm(unit="records", desc=args.device) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = await backfill(config, args.device, args.chamber, since_us, progress)
    if report.first is None:
        print(f"{args.device}: the logger's memory is empty; nothing to backfill")
    else:
        print(
            f"{args.device}: records {report.first}..{report.last}: {report.downloaded} "
            f"downloaded, {report.lost} lost to the logger's memory wrapping (see the gap "
            f"events), {report.stored} samples in the store ({report.duplicates} were there)"
        )
    return 0


async def _clock_set(args: argparse.Namespace) -> int:
    from loggerd.service.manual import set_clock

    config = load_config(args.config)
    to_s = None if args.to is None else _utc("to", args.to) // 1_000_000
    r = await set_clock(config, args.device, args.chamber, to_s)
    print(
        f"{args.device}: clock set to {r.set_to_utc_s} (UTC epoch s); offset "
        f"{r.before.offset_us / 1e6:+.3f} s before, {r.after.offset_us / 1e6:+.3f} s "
        f"(± {r.after.uncertainty_us / 1e6:.3f} s) after; recorded as a clock_set event"
    )
    return 0


def _drivers(_args: argparse.Namespace) -> int:
    for name, ep in sorted(available_drivers().items()):
        print(f"{name}\t{ep.value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loggerd", description=__doc__)
    parser.add_argument("--version", action="version", version=f"loggerd {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="simulated chambers + loggers, the daemon and the API")
    p.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="API port (default 8080; 0: any)")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path("loggerd-demo"),
        help="where the demo's database and config go (default ./loggerd-demo)",
    )
    p.add_argument("--profile", type=Path, help="chamber profile TOML (default: cold soak)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--interval", type=int, default=2, help="the loggers' logging interval, s (default 2)"
    )

    p = sub.add_parser("run", help="run the daemon from a configuration file")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--host", help="override the API address")
    p.add_argument("--port", type=int, help="override the API port")

    p = sub.add_parser(
        "api", help="serve the API from the configured store only (a replica; polls nothing)"
    )
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--host", help="override the API address")
    p.add_argument("--port", type=int, help="override the API port")

    p = sub.add_parser("sim", help="run the simulator alone and print its endpoints")
    p.add_argument("--profile", type=Path, help="chamber profile TOML (default: cold soak)")
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--addresses", default="1", help="comma-separated Modbus addresses")
    p.add_argument("--channels", type=int, default=8, help="temperature channels fitted")
    p.add_argument("--interval", type=int, default=10, help="logging interval, s")
    p.add_argument(
        "--capacity",
        type=int,
        help="records in each logger's ring memory (default: the map's 100000)",
    )
    p.add_argument(
        "--clock-offset",
        type=float,
        default=0.0,
        metavar="S",
        help="the loggers' clocks minus true time at the start, s (default 0)",
    )
    p.add_argument(
        "--clock-drift-ppm",
        type=float,
        default=0.0,
        metavar="P",
        help="how much faster the loggers' clocks run than true time, ppm (default 0)",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--tcp-port", type=int, default=0, help="Modbus TCP port (default: any)")
    p.add_argument("--no-tcp", action="store_true")
    p.add_argument("--no-rtu", action="store_true")
    p.add_argument("--baud", type=int, default=19200, help="RTU line speed (default 19200)")
    p.add_argument(
        "--turnaround-ms",
        type=float,
        default=2.0,
        help="the loggers' reply delay after the 3.5-character silence",
    )
    p.add_argument(
        "--no-wire-timing",
        action="store_true",
        help="answer RTU requests at once instead of at wire speed",
    )
    p.add_argument(
        "--faults",
        default="",
        help="seeded fault rates, e.g. crc=0.05,drop=0.02,late=0.01 "
        "(also garbage, busy, reboot, late_delay_s, reboot_s)",
    )
    p.add_argument("--fault-seed", type=int, default=0)
    p.add_argument(
        "--link", type=Path, help="make a symlink to the RTU pty here (like /dev/serial/by-id/…)"
    )
    p.add_argument(
        "--ascii",
        action="store_true",
        help="also serve each logger's RS-232 ASCII protocol on a pty of its own",
    )
    p.add_argument(
        "--device",
        action="append",
        default=[],
        metavar="ADDRESS=PROFILE",
        help="a third-party device from a profile on the same lines, e.g. "
        "240=vaisala_hmt330 (repeat for several)",
    )

    p = sub.add_parser("config", help="configuration tools")
    csub = p.add_subparsers(dest="config_command", required=True)
    c = csub.add_parser("check", help="validate a configuration file")
    c.add_argument("file", type=Path)

    sub.add_parser("drivers", help="list the installed drivers")

    def store_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, help="the daemon's configuration (its [store])")
        p.add_argument("--url", help="or a store URL: sqlite:///FILE, postgresql://…")
        p.add_argument("--schema", help="with --url: the PostgreSQL schema")

    p = sub.add_parser("db", help="the history database")
    dsub = p.add_subparsers(dest="db_command", required=True)
    store_args(dsub.add_parser("upgrade", help="create or migrate the schema to the newest"))
    store_args(dsub.add_parser("status", help="print the schema revision"))

    p = sub.add_parser("calibration", help="calibration certificates")
    calsub = p.add_subparsers(dest="calibration_command", required=True)
    c = calsub.add_parser(
        "apply",
        help="correct a channel's stored history again with a (new) certificate",
    )
    c.add_argument("--config", type=Path, required=True)
    c.add_argument("--chamber", required=True)
    c.add_argument("--channel", required=True)
    c.add_argument("--certificate", type=Path, required=True, help="the certificate TOML")
    c.add_argument("--start", help="ISO 8601, UTC when no offset (default: the beginning)")
    c.add_argument("--end", help="ISO 8601, UTC when no offset (default: now)")

    p = sub.add_parser("export", help="export raw history of a time range to a file")
    store_args(p)
    p.add_argument("--chamber", required=True)
    p.add_argument("--channel", action="append", help="repeat for several; all when absent")
    p.add_argument("--start", required=True, help="ISO 8601, UTC when no offset")
    p.add_argument("--end", required=True, help="ISO 8601, UTC when no offset")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv")
    p.add_argument("file", type=Path, metavar="FILE")

    p = sub.add_parser(
        "backfill",
        help="download a logger's memory into the store by hand (stop `loggerd run` first)",
    )
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--chamber", help="when the device id is in several chambers")
    p.add_argument(
        "--since",
        help="from the first record at or after this logger time (ISO 8601, UTC when no "
        "offset); default: from where the device's history ends",
    )

    p = sub.add_parser("clock", help="a logger's clock")
    clksub = p.add_subparsers(dest="clock_command", required=True)
    c = clksub.add_parser(
        "set", help="set a logger's clock to the host's, and record it (stop `loggerd run` first)"
    )
    c.add_argument("--config", type=Path, required=True)
    c.add_argument("--device", required=True)
    c.add_argument("--chamber", help="when the device id is in several chambers")
    c.add_argument("--to", help="ISO 8601 time to set (default: the host's clock, UTC)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        if args.command == "demo":
            return asyncio.run(_demo(args))
        if args.command == "run":
            return asyncio.run(_run(args))
        if args.command == "sim":
            return asyncio.run(_sim(args))
        if args.command == "api":
            return asyncio.run(_api(args))
        if args.command == "config":
            return _config_check(args)
        if args.command == "db":
            return _db(args)
        if args.command == "export":
            return _export(args)
        if args.command == "calibration":
            return _calibration_apply(args)
        if args.command == "backfill":
            return asyncio.run(_backfill(args))
        if args.command == "clock":
            return asyncio.run(_clock_set(args))
        return _drivers(args)
    except LoggerdError as exc:
        print(f"loggerd: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
