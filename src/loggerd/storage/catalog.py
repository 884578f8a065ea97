"""The catalog: which chambers, devices and channels the database knows, and each channel's key.

Several loggerds may register into one database; each keeps a copy of the whole catalog in
memory and reads it again when asked for a channel it does not know yet, so that an API replica
sees chambers registered after it started.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, select, update

from loggerd.core.channels import Channel
from loggerd.storage.database import Database
from loggerd.storage.model import ChannelMeta, DeviceRow, StoreError
from loggerd.storage.schema import chambers, channels, devices

__all__ = ["Catalog"]

# What registering a channel sets (beside its ids).
_CHANNEL_FIELDS = ("device_key", "name", "point", "quantity", "unit")


class Catalog:
    """The chambers, devices and channels in the database, cached; calls block."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._by_id: dict[tuple[str, str], ChannelMeta] = {}
        self._by_key: dict[int, ChannelMeta] = {}
        self._chamber_names: dict[str, str | None] = {}

    def register(
        self,
        chamber_names: dict[str, str | None],
        channel_rows: Sequence[Channel],
        device_rows: Sequence[DeviceRow] = (),
    ) -> None:
        """Add or update chambers, devices and channels (a name, a driver or a unit may have
        changed), then read the whole catalog again. Safe with several loggerds at once."""
        drivers = {(d.chamber_id, d.device_id): d.driver for d in device_rows}
        for c in channel_rows:
            drivers.setdefault((c.chamber_id, c.device_id), None)
        db = self._db
        chamber_rows = [{"id": cid, "name": name} for cid, name in chamber_names.items()]
        with db.failing_as(f"cannot open the store at {db.url}"), db.engine.begin() as conn:
            self._add_or_update(conn, chambers, ("id",), ("name",), chamber_rows)
            device_keys = self._register_devices(conn, drivers)
            rows = [
                {
                    "chamber_id": row.chamber_id,
                    "channel_id": row.channel_id,
                    "device_key": device_keys[(row.chamber_id, row.device_id)],
                    "name": row.name,
                    "point": row.point,
                    "quantity": row.quantity,
                    "unit": row.unit,
                }
                for row in channel_rows
            ]
            self._add_or_update(conn, channels, ("chamber_id", "channel_id"), _CHANNEL_FIELDS, rows)
        self.refresh()

    def _add_or_update(
        self,
        conn: Connection,
        table: Table,
        keys: Sequence[str],
        fields: Sequence[str],
        rows: Sequence[dict[str, Any]],
        update_rows: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        """Add the rows the table lacks, then set `fields` of `update_rows` (default: all the
        rows), found by `keys`: one statement of each kind for all rows (executemany). A
        statement a row, each built and compiled anew, took seconds of a start with a thousand
        loggers."""
        if rows:
            conn.execute(self._db.insert(table).on_conflict_do_nothing(), rows)
        update_rows = rows if update_rows is None else update_rows
        if update_rows:
            conn.execute(
                update(table)
                .where(and_(*(table.c[k] == bindparam(f"w_{k}") for k in keys)))
                .values({f: bindparam(f"v_{f}") for f in fields}),
                [
                    {**{f"w_{k}": r[k] for k in keys}, **{f"v_{f}": r[f] for f in fields}}
                    for r in update_rows
                ],
            )

    def _register_devices(
        self, conn: Connection, drivers: dict[tuple[str, str], str | None]
    ) -> dict[tuple[str, str], int]:
        """Add the devices (a known driver replaces the stored one); their keys."""
        if not drivers:
            return {}
        rows = [
            {"chamber_id": cid, "device_id": did, "driver": driver}
            for (cid, did), driver in sorted(drivers.items())
        ]
        known = [r for r in rows if r["driver"] is not None]
        self._add_or_update(conn, devices, ("chamber_id", "device_id"), ("driver",), rows, known)
        keys = conn.execute(select(devices.c.chamber_id, devices.c.device_id, devices.c.key))
        return {(cid, did): key for cid, did, key in keys if (cid, did) in drivers}

    def refresh(self) -> None:
        """Read the whole catalog again (other loggerds may have registered since)."""
        query = (
            select(
                channels.c.key,
                channels.c.chamber_id,
                channels.c.channel_id,
                devices.c.device_id,
                channels.c.name,
                channels.c.point,
                channels.c.quantity,
                channels.c.unit,
            )
            .join(devices, devices.c.key == channels.c.device_key)
            .order_by(channels.c.key)
        )
        with self._db.reading(), self._db.engine.connect() as conn:
            metas = [ChannelMeta(*r) for r in conn.execute(query)]
            names = {r.id: r.name for r in conn.execute(select(chambers).order_by(chambers.c.id))}
        self._by_id = {(m.chamber_id, m.channel_id): m for m in metas}
        self._by_key = {m.key: m for m in metas}
        self._chamber_names = names

    def chamber_names(self) -> dict[str, str | None]:
        """Every chamber in the database (other loggerds' too), by id."""
        return dict(self._chamber_names)

    def chamber_channels(self, chamber_id: str, refresh: bool = True) -> list[ChannelMeta]:
        """The chamber's channels in registration order; re-reads the catalog on a miss, so a
        stateless API replica sees chambers that other loggerds registered after it started."""
        found = [m for m in self._by_key.values() if m.chamber_id == chamber_id]
        if not found and refresh:
            self.refresh()
            return self.chamber_channels(chamber_id, refresh=False)
        return found

    def channel(self, chamber_id: str, channel_id: str) -> ChannelMeta:
        """A channel by its ids; re-reads the catalog on a miss, raises StoreError if unknown."""
        meta = self._by_id.get((chamber_id, channel_id))
        if meta is None:
            self.refresh()
            meta = self._by_id.get((chamber_id, channel_id))
        if meta is None:
            raise StoreError(f"no channel {channel_id!r} of chamber {chamber_id!r} in the store")
        return meta

    def by_key(self, key: int) -> ChannelMeta:
        """A channel by its key, as of the last read of the catalog."""
        return self._by_key[key]

    def channel_keys(self) -> list[int]:
        """Every channel's key, as of the last read of the catalog."""
        return list(self._by_key)
