"""Retention: deleting raw samples and rollup rows older than the store's Retention says."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete

from loggerd.storage.catalog import Catalog
from loggerd.storage.database import Database
from loggerd.storage.schema import TIERS, rollup_tables, samples

__all__ = ["prune"]


def prune(db: Database, catalog: Catalog, now_us: int | None = None) -> dict[str, int]:
    """Delete raw samples and rollup rows older than their retention; rows deleted by table.

    Channel by channel, so each DELETE walks its part of the primary key and no transaction
    holds the write lock for long.
    """
    now_us = time.time_ns() // 1000 if now_us is None else now_us
    retention = db.retention
    targets: list[tuple[str, Any, Any, int]] = []
    raw_cutoff_us = retention.raw_cutoff_us(now_us)
    if raw_cutoff_us is not None:
        targets.append(("samples", samples, samples.c.ts_us, raw_cutoff_us))
    for tier in TIERS:
        keep_s = retention.rollup_s.get(tier.name)
        if keep_s is not None:
            table = rollup_tables[tier.name]
            # A bucket goes once all of it is older than the horizon.
            cutoff = now_us - int(keep_s * 1e6) - tier.width_us
            targets.append((tier.table_name, table, table.c.bucket_us, cutoff + 1))
    deleted: dict[str, int] = {}
    catalog.refresh()
    with db.failing_as(f"pruning the store at {db.url} failed"):
        for name, table, ts_column, cutoff in targets:
            deleted[name] = 0
            for key in catalog.channel_keys():
                with db.engine.begin() as conn:
                    result = conn.execute(
                        delete(table).where(table.c.channel_key == key, ts_column < cutoff)
                    )
                    deleted[name] += result.rowcount
    return deleted
