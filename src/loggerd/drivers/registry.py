"""Driver discovery: the entry-point group loggerd.drivers, and nothing else."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from loggerd.core.errors import DriverLoadError
from loggerd.drivers.base import Driver

GROUP = "loggerd.drivers"

# Drivers imported, by name: looking them up scans every installed package's metadata (about
# 10 ms), and a configuration of a thousand loggers asked once per device, four times over.
_loaded: dict[str, type[Driver]] = {}


def available_drivers() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load_driver(name: str) -> type[Driver]:
    """Import the driver registered under `name`; errors name it and say what to do."""
    cls = _loaded.get(name)
    if cls is not None:
        return cls
    found = available_drivers()
    ep = found.get(name)
    if ep is None:
        known = ", ".join(sorted(found)) or "none"
        raise DriverLoadError(
            f"no driver named {name!r} in entry-point group {GROUP!r} (installed: {known}). "
            "Check the spelling, or install the package that provides it"
        )
    try:
        cls = ep.load()
    except Exception as exc:
        raise DriverLoadError(
            f"driver {name!r} ({ep.value}) failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Driver)):
        raise DriverLoadError(f"driver {name!r} ({ep.value}) is not a loggerd.driver.Driver")
    _loaded[name] = cls
    return cls
