"""The layers hold: each imports only the layers below it (import-linter's contracts in
pyproject.toml), and what serves HTTP loads no hardware code at all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = 5  # in pyproject.toml: a contract dropped from there is noticed here

HARDWARE = ("serial", "pymodbus", "loggerd_drivers", "loggerd_sim", "loggerd_protocol")
HARDWARE_LAYERS = ("loggerd.link", "loggerd.modbus", "loggerd.acquisition")
INTERFACE = ("loggerd.drivers.base", "loggerd.drivers.registry")
# Reading a TOML file is not hardware: the one loader sits beside the protocol's codecs.
TOML_READER = ("loggerd_protocol", "loggerd_protocol.toml_document")


def test_every_layer_contract_is_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {CONTRACTS} kept, 0 broken." in result.stdout, result.stdout


def loaded_after(code: str) -> list[str]:
    """The modules a fresh interpreter holds after running `code`."""
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    modules: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return modules


def hardware(modules: list[str]) -> list[str]:
    return [
        m
        for m in modules
        if (m.split(".")[0] in HARDWARE or m.startswith(HARDWARE_LAYERS)) and m not in TOML_READER
    ]


def test_the_api_loads_no_serial_modbus_or_driver_module() -> None:
    modules = loaded_after("import loggerd.api.app")
    assert "fastapi" in modules and "loggerd.api.app" in modules  # it did import the API
    assert hardware(modules) == []
    assert not [m for m in modules if m.startswith(("loggerd.service", "loggerd.drivers"))]


def test_an_api_replica_builds_no_daemon_and_loads_no_driver(tmp_path: Path) -> None:
    """`loggerd api` builds its store and the API from the configuration, nothing else: no
    daemon, no driver, no line, even for a configuration that names serial devices."""
    config = tmp_path / "replica.toml"
    config.write_text(
        f'data_dir = "{tmp_path.as_posix()}"\n'
        '[[chamber]]\nid = "c"\n[[chamber.device]]\nid = "d"\ndriver = "reference-modbus"\n'
        'url = "/dev/ttyUSB0"\n[[chamber.device.channel]]\nid = "t1"\npoint = "temperature_1"\n'
    )
    modules = loaded_after(
        "import asyncio\n"
        "from loggerd.api.app import create_app\n"
        "from loggerd.service.config import load_config\n"
        "from loggerd.service.replica import Replica\n"
        f"replica = Replica(load_config({str(config)!r}, devices=False))\n"
        "asyncio.run(replica.start())\n"
        "create_app(replica.ports())\n"
        "asyncio.run(replica.stop())\n"
    )
    assert "loggerd.service.replica" in modules and "sqlalchemy" in modules
    assert hardware(modules) == []
    assert "loggerd.service.daemon" not in modules
    # The configuration's models know the driver interface; no driver is loaded.
    assert not [m for m in modules if m.startswith("loggerd.drivers.") and m not in INTERFACE]


def test_the_api_process_loads_no_acquisition_or_hardware_module() -> None:
    """The API's own process (beside acquisition's) imports what it serves and nothing that
    polls: its entry point, as acquisition's process starts it."""
    modules = loaded_after("import loggerd.service.api_worker")
    assert "uvicorn" in modules and "loggerd.live.view" in modules
    assert hardware(modules) == []
    assert "loggerd.service.daemon" not in modules
    assert not [m for m in modules if m.startswith("loggerd.drivers.") and m not in INTERFACE]
