"""`loggerd demo`: the simulated rack and the daemon in one process, the API in another."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from loggerd.cli.common import port_number
from loggerd.core.errors import ConfigError
from loggerd_sim import cli as sim_cli

DEMO_TRANSMITTER_ADDRESS = 240
SIMULATOR_STATE = "simulator.json"


def demo_config_text(rtu_path: str, tcp_url: str, data_dir: Path, host: str, port: int) -> str:
    """Two chambers: a logger and a humidity transmitter sharing the simulated RS-485 line,
    and a logger over Modbus TCP; derived humidity channels computed by loggerd.

    Its length is the demo configuration's, a template users copy, kept readable whole."""
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


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="simulated chambers + loggers, the daemon and the API")
    p.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1)")
    p.add_argument("--port", type=port_number, default=8080, help="API port (default 8080; 0: any)")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path("loggerd-demo"),
        help="where the demo's database and config go (default ./loggerd-demo)",
    )
    # The loggers record every 2 s, so the history fills while one watches.
    sim_cli.add_flags(p, ("profile", "speed", "seed", "interval_s"), {"interval_s": 2})
    p.set_defaults(run=lambda args: asyncio.run(_demo(args)))


async def _demo(args: argparse.Namespace) -> int:
    from loggerd.core.times import iso, utc_now_us
    from loggerd.service.config import parse_config
    from loggerd.service.daemon import Daemon
    from loggerd.service.runtime import install_stop_signals, serve_apart
    from loggerd_sim.host import SimulatorHost

    stop = asyncio.Event()
    install_stop_signals(stop)
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    # The simulated loggers are powered off at stop and on at the next start: their memories
    # and clocks are kept in the data folder, as a real logger keeps them, so that a restart
    # is no memory reset.
    state_file = data_dir / SIMULATOR_STATE
    options = sim_cli.options(
        args,
        addresses=(1, 2),
        profile_devices={DEMO_TRANSMITTER_ADDRESS: "vaisala_hmt330"},
        state_file=state_file,
    )
    programme_start_us = utc_now_us()  # the simulated chamber starts its programme now
    try:
        sim = SimulatorHost(options)
    except ValueError as exc:  # a state file that is not one
        raise ConfigError(f"simulator: {exc}") from None
    await sim.start()
    try:
        assert sim.rtu is not None and sim.tcp is not None
        text = demo_config_text(sim.rtu.path, sim.tcp.url, data_dir, args.host, args.port)
        config_path = data_dir / "demo.toml"
        config_path.write_text(text, "utf-8")
        config = parse_config(text, str(config_path))
        daemon = Daemon(config)

        def ready(url: str) -> None:
            print(
                f"simulator: Modbus RTU on {sim.rtu.path if sim.rtu else '-'}, "
                f"Modbus TCP on {sim.tcp.url if sim.tcp else '-'} "
                f"(profile {sim.profile.name!r}, programme speed x{options.speed:g}; "
                "the loggers keep real time)",
                flush=True,
            )
            print(f"loggers:   {_memories(sim.restored, state_file)}", flush=True)
            print(f"config:    {config_path}", flush=True)
            print(
                f"programme: started {iso(programme_start_us)} (a test run over it: "
                f"loggerd runs create --config {config_path} --chamber chamber-1 "
                f"--start {iso(programme_start_us)} --profile "
                "deploy/profiles/cold-soak-70.toml --test … --uut … --operator …)",
                flush=True,
            )
            print(
                f"loggerd demo is running: {url}/api/v1/chambers  (API docs: {url}/docs)",
                flush=True,
            )
            print(f"  curl {url}/api/v1/chambers/chamber-1/latest", flush=True)
            print("Press Ctrl-C to stop.", flush=True)

        await serve_apart(daemon, config.api.host, config.api.port, stop, ready)
    finally:
        await sim.stop()
    print(f"stopped; {daemon.writer.written} samples stored in {data_dir}", flush=True)
    return 0


def _memories(restored: dict[int, int], state_file: Path) -> str:
    if restored:
        kept = ", ".join(f"logger {a}: {n} records" for a, n in sorted(restored.items()))
        return f"memories and clocks kept from the last run ({kept})"
    return (
        f"new, empty memories (none kept in {state_file}: a first run, or the last one did "
        "not stop cleanly, and then loggerd reports each logger's memory as started again)"
    )
