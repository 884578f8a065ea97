"""The spool: a durable FIFO of accepted batches on local disk, between acquisition and the store.

Every accepted batch is appended here first, so a SIGKILL, a crash or a store outage loses
nothing that was accepted; a drain loop writes the head to the store and then removes it. A
batch that was in the store before a crash but still in the spool is written again, which the
store tolerates (a retried write never counts twice). The spool is one SQLite file (standard
library only): SQLite gives atomic, crash-safe appends and a clean SQLITE_FULL on a full disk.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from loggerd.core.errors import LoggerdError

__all__ = ["SPOOL_FILE", "Spool", "SpoolEntry", "SpoolError", "SpoolFull"]

SPOOL_FILE = "spool.db"  # its name in the daemon's data folder

# Marks the file as a loggerd spool ("lgsp"), so that another SQLite file given by mistake (the
# history, say) is refused instead of having a table added to it and being drained.
_APPLICATION_ID = 0x6C677370
_SCHEMA_VERSION = 1
_T = TypeVar("_T")
# What a SpoolFull left undone, by the action that failed.
_FULL_OUTCOMES = {
    "append to": "The batch was not spooled",
    "remove entries from": "The entries stay in the spool and will be drained again",
}

# `payload` is the last column so that reading the others never touches its overflow pages.
# AUTOINCREMENT: an id is never used twice, even after the table was emptied, so an id seen
# before a crash always means the same entry. The triggers keep `totals` exact in the same
# transaction as the change, so the health figures cost one row, not a scan of the spool
# (which can hold gigabytes after a long store outage).
_SCHEMA = """
CREATE TABLE entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count >= 0),
    created_us INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE totals (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    entries INTEGER NOT NULL,
    pending INTEGER NOT NULL
);
INSERT INTO totals VALUES (1, 0, 0);
CREATE TRIGGER entries_added AFTER INSERT ON entries BEGIN
    UPDATE totals SET entries = entries + 1, pending = pending + NEW.count;
END;
CREATE TRIGGER entries_removed AFTER DELETE ON entries BEGIN
    UPDATE totals SET entries = entries - 1, pending = pending - OLD.count;
END;
"""


class SpoolError(LoggerdError):
    """The spool cannot be opened, read or written. The message names the file and the fix."""


class SpoolFull(SpoolError):
    """No room for the batch: the disk is full (SQLITE_FULL, ENOSPC) or max_bytes is reached.

    The write that raised it changed nothing (an append: the batch was not spooled); entries
    already spooled are safe.
    Appends work again as soon as there is room (disk space freed, entries drained, a higher
    max_bytes), so the caller keeps the batch and retries rather than dropping it.
    """


@dataclass(frozen=True)
class SpoolEntry:
    id: int  # increasing in append order, never reused: the FIFO order
    kind: str  # what the payload is ("samples", "events"); opaque to the spool
    count: int  # items in the payload, for health figures and for sizing a drain
    payload: bytes  # opaque to the spool
    created_us: int  # UTC microseconds since the Unix epoch when appended


class Spool:
    """A durable FIFO of opaque batches in one SQLite file (WAL journal).

    append() is durable on return: with synchronous NORMAL (WAL) a committed entry survives
    the process being killed (SIGKILL, a crash); with FULL it also survives a power loss, at
    the cost of an fsync per append. max_bytes caps the database file (PRAGMA max_page_count;
    the WAL beside it is extra, normally a few MB, and is counted by size_bytes()); reaching it
    raises SpoolFull just as a full disk does. A max_bytes below the current size is allowed:
    appends then fail until enough has been drained. Space freed by remove_through() is reused
    by later appends, so the file is never vacuumed; an emptied spool keeps its size.

    Set max_bytes below the free space of the disk: on a disk that is really full even
    remove_through() can fail (SQLite writes a deletion to the WAL first), so only freeing disk
    space helps; under max_bytes the WAL still has room, and draining alone makes room.

    One process owns a spool. Calls may come from any thread (asyncio.to_thread): they share
    one connection behind a lock. SQLite lets only one writer at a time into a file anyway, so
    a connection per thread would gain nothing but concurrent reads, and would leave
    connections in the pool's threads that close() cannot reach.
    """

    def __init__(
        self, path: Path, synchronous: str = "NORMAL", max_bytes: int | None = None
    ) -> None:
        self.path = Path(path)
        if synchronous not in ("NORMAL", "FULL"):
            raise SpoolError(
                f"spool {self.path}: synchronous must be NORMAL or FULL, got {synchronous!r}"
            )
        if max_bytes is not None and max_bytes <= 0:
            raise SpoolError(f"spool {self.path}: max_bytes must be positive, got {max_bytes}")
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(
                f"cannot create the folder of the spool {self.path}: {exc}; check that loggerd "
                "may write to its data folder"
            ) from exc
        try:
            # isolation_level=None: no implicit transactions; every write says BEGIN IMMEDIATE
            # itself, so a failure can always be rolled back completely.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._error("open", exc) from exc
        try:
            self._prepare(conn, synchronous)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise self._error("open", exc) from exc
            raise
        self._conn: sqlite3.Connection | None = conn

    def _prepare(self, conn: sqlite3.Connection, synchronous: str) -> None:
        # The first statement reads the header: a file that is not SQLite fails here.
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise SpoolError(
                f"spool {self.path}: SQLite cannot use a WAL journal there (it stays {mode!r}); "
                "put the data folder on a local file system"
            )
        conn.execute(f"PRAGMA synchronous={synchronous}")
        # Once at start-up, so damage is reported here, with its remedy, and not later by the
        # drain loop in the middle of a run. It reads the whole file: seconds for gigabytes.
        problems = [str(row[0]) for row in conn.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise SpoolError(self._damaged("; ".join(problems)))
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._check_or_create_schema(conn)
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        if self.max_bytes is not None:
            page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
            # Not stored in the file: each open sets its own limit, so raising max_bytes and
            # reopening makes room. SQLite never sets it below the pages already used.
            conn.execute(f"PRAGMA max_page_count={max(1, self.max_bytes // page_size)}")

    def _check_or_create_schema(self, conn: sqlite3.Connection) -> None:
        application_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        if application_id == _APPLICATION_ID:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version != _SCHEMA_VERSION:
                raise SpoolError(
                    f"spool {self.path} has format {version}, this loggerd reads format "
                    f"{_SCHEMA_VERSION}: drain it with the loggerd that wrote it, or move it "
                    "aside (it may hold samples not yet in the store)"
                )
            return
        (objects,) = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if application_id != 0 or objects:
            raise SpoolError(
                f"{self.path} is an SQLite database but not a loggerd spool: point the spool "
                "at a file of its own, or move this one aside"
            )
        # executescript() would COMMIT first; the schema goes in statement by statement so
        # that it and the marks below are one transaction (no half-made spool after a crash).
        for statement in _statements(_SCHEMA):
            conn.execute(statement)
        conn.execute(f"PRAGMA application_id={_APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    # --- writing ------------------------------------------------------------------------------

    def append(self, kind: str, count: int, payload: bytes) -> int:
        """Append one entry; durable when this returns. Returns its id."""
        return self.append_many([(kind, count, payload)])[0]

    def append_many(self, entries: Sequence[tuple[str, int, bytes]]) -> list[int]:
        """Append entries in one transaction: all of them, or none (SpoolFull, SpoolError)."""
        for _kind, count, _payload in entries:
            if count < 0:
                raise ValueError(f"an entry's count cannot be negative, got {count}")
        if not entries:
            return []
        created_us = time.time_ns() // 1000

        def insert(conn: sqlite3.Connection) -> list[int]:
            ids = []
            for kind, count, payload in entries:
                cur = conn.execute(
                    "INSERT INTO entries (kind, count, created_us, payload) VALUES (?, ?, ?, ?)",
                    (kind, count, created_us, payload),
                )
                assert cur.lastrowid is not None
                ids.append(cur.lastrowid)
            return ids

        return self._write("append to", insert)

    def remove_through(self, entry_id: int) -> None:
        """Delete every entry whose id is <= entry_id (what the drain has put in the store)."""

        def delete(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM entries WHERE id <= ?", (entry_id,))

        self._write("remove entries from", delete)

    def _write(self, action: str, work: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException as exc:
                # On SQLITE_FULL SQLite may already have rolled back the whole transaction, or
                # only the statement: either way nothing of it must remain.
                _rollback(conn)
                if isinstance(exc, sqlite3.Error):
                    raise self._error(action, exc) from exc
                raise
            return result

    # --- reading ------------------------------------------------------------------------------

    def head(self, max_count: int) -> list[SpoolEntry]:
        """The oldest entries whose summed `count` is <= max_count, but at least one if any."""
        with self._lock:
            conn = self._connection()
            out: list[SpoolEntry] = []
            total = 0
            try:
                cur = conn.execute(
                    "SELECT id, kind, count, payload, created_us FROM entries ORDER BY id"
                )
                try:
                    for entry_id, kind, count, payload, created_us in cur:
                        if out and total + count > max_count:
                            break
                        out.append(SpoolEntry(entry_id, kind, count, bytes(payload), created_us))
                        total += count
                finally:
                    # An unfinished statement would hold its snapshot, and with it every
                    # checkpoint of the WAL, until the next query.
                    cur.close()
            except sqlite3.Error as exc:
                raise self._error("read", exc) from exc
            return out

    def __len__(self) -> int:
        """Entries held."""
        return self._read_int("SELECT entries FROM totals") or 0

    def pending_count(self) -> int:
        """Sum of the `count` of the entries held: items not yet in the store."""
        return self._read_int("SELECT pending FROM totals") or 0

    def oldest_created_us(self) -> int | None:
        """When the oldest entry held was appended (UTC µs), None when empty: the drain's lag."""
        return self._read_int("SELECT created_us FROM entries ORDER BY id LIMIT 1")

    def size_bytes(self) -> int:
        """Bytes on disk: the database file and its WAL."""
        size = 0
        for file in (self.path, self.path.with_name(self.path.name + "-wal")):
            with contextlib.suppress(FileNotFoundError):  # the WAL is gone after a clean close
                size += file.stat().st_size
        return size

    def _read_int(self, sql: str) -> int | None:
        with self._lock:
            conn = self._connection()
            try:
                row = conn.execute(sql).fetchone()
            except sqlite3.Error as exc:
                raise self._error("read", exc) from exc
            return None if row is None else int(row[0])

    # --- lifetime -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (checkpointing the WAL into it). Closing twice is harmless."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise SpoolError(f"spool {self.path} is closed")
        return self._conn

    # --- errors -------------------------------------------------------------------------------

    def _error(self, action: str, exc: sqlite3.Error) -> SpoolError:
        code = getattr(exc, "sqlite_errorcode", None)
        primary = None if code is None else code & 0xFF  # extended codes keep it in the low byte
        if primary == sqlite3.SQLITE_FULL or "database or disk is full" in str(exc):
            if self.max_bytes is None:
                cause = "the disk holding it has no space left"
                fix = "Free disk space there"
            else:
                cause = (
                    f"it reached its size limit (max_bytes={self.max_bytes}) or its disk is full"
                )
                fix = (
                    "Free disk space there or raise max_bytes (under max_bytes, draining to the "
                    "store also makes room)"
                )
            outcome = _FULL_OUTCOMES.get(action, "Nothing was changed")
            return SpoolFull(
                f"cannot {action} the spool {self.path}: {cause}. {outcome}; entries already "
                f"spooled are safe. {fix}; the spool works again as soon as there is room."
            )
        if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            return SpoolError(self._damaged(str(exc)))
        if primary in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_READONLY):
            return SpoolError(
                f"cannot {action} the spool {self.path}: {exc}; check that it is a file that "
                "loggerd may read and write, in a folder it may write to"
            )
        return SpoolError(f"cannot {action} the spool {self.path}: {exc}")

    def _damaged(self, detail: str) -> str:
        return (
            f"the spool {self.path} is damaged or not an SQLite database ({detail}): stop "
            "loggerd and move the file aside (keep it: it may hold samples not yet in the "
            "store); loggerd then starts with a new, empty spool"
        )


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _statements(script: str) -> list[str]:
    """Split a script whose statements end with ";" at the end of a line (triggers included)."""
    out, current = [], ""
    for line in script.strip().splitlines(keepends=True):
        current += line
        if line.rstrip().endswith(";") and sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    return out
