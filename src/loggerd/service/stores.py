"""The store a configuration names, for the daemon, an API replica and the command line."""

from __future__ import annotations

from loggerd.service.config import DaemonConfig
from loggerd.storage.store import Retention, Store, sqlite_url

_DAY_S = 86400.0


def open_store(config: DaemonConfig) -> Store:
    """The store a configuration names (not yet opened: see Store.open and Store.upgrade)."""
    store = config.store
    if store.url is None:
        # The embedded SQLite file lives in the data folder: make it, as a first start must.
        config.data_dir.mkdir(parents=True, exist_ok=True)
    return Store(
        store.url or sqlite_url(config.data_dir),
        store.synchronous,
        schema=store.schema_,
        retention=Retention(
            raw_s=None if store.raw_retention_days is None else store.raw_retention_days * _DAY_S,
            rollup_s={t: d * _DAY_S for t, d in store.rollup_retention_days.items()},
        ),
    )
