"""The spool: FIFO order and ids across reopen, SIGKILL safety, a full spool, damaged files,
and appends from many threads."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from loggerd.storage.spool import Spool, SpoolEntry, SpoolError, SpoolFull

ALL = 10**12  # a max_count that takes every entry


def integrity(path: Path) -> list[str]:
    """PRAGMA integrity_check through a connection of its own (as an operator would run it)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]


def payload(n: int, size: int = 1000) -> bytes:
    """A payload that says which entry it belongs to, so a mix-up cannot go unseen."""
    unit = f"entry {n};".encode()
    return (unit * (size // len(unit) + 1))[:size]


@pytest.fixture
def spool_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "spool.db"


@pytest.fixture
def spool(spool_path: Path) -> Iterator[Spool]:
    with Spool(spool_path) as s:
        yield s


def fill(spool: Spool, first: int = 0) -> tuple[list[int], SpoolFull]:
    """Append 1000-byte entries until the spool is full; the ids that fit, and the error."""
    ids: list[int] = []
    for n in range(first, first + 10_000):
        try:
            ids.append(spool.append("samples", 1, payload(n)))
        except SpoolFull as exc:
            return ids, exc
    raise AssertionError("the spool never became full")


# --- order, ids, durability ---------------------------------------------------------------------


def test_fifo_order_and_contents_survive_reopen(spool_path: Path) -> None:
    before_us = time.time_ns() // 1000
    with Spool(spool_path) as spool:
        first = spool.append("samples", 3, payload(0))
        more = spool.append_many([("events", 1, payload(1)), ("samples", 5, payload(2))])
    after_us = time.time_ns() // 1000
    assert spool_path.parent.is_dir()  # the data folder was created with it

    with Spool(spool_path) as spool:
        entries = spool.head(ALL)
        assert [e.id for e in entries] == [first, *more]
        assert first < more[0] < more[1]
        assert [(e.kind, e.count, e.payload) for e in entries] == [
            ("samples", 3, payload(0)),
            ("events", 1, payload(1)),
            ("samples", 5, payload(2)),
        ]
        assert all(before_us <= e.created_us <= after_us for e in entries)
        assert len(spool) == 3
        assert spool.pending_count() == 9
        assert spool.oldest_created_us() == entries[0].created_us

        spool.remove_through(more[0])
        assert [e.id for e in spool.head(ALL)] == [more[1]]
        assert (len(spool), spool.pending_count()) == (1, 5)
        assert spool.oldest_created_us() == entries[2].created_us
        spool.remove_through(first)  # already gone: nothing changes
        assert len(spool) == 1

    with Spool(spool_path) as spool:
        assert spool.head(ALL) == [entries[2]]


def test_ids_are_never_reused_after_emptying_and_reopening(spool_path: Path) -> None:
    with Spool(spool_path) as spool:
        ids = [spool.append("samples", 1, payload(n)) for n in range(3)]
        spool.remove_through(ids[-1])
        assert (len(spool), spool.pending_count(), spool.head(ALL)) == (0, 0, [])
        assert spool.oldest_created_us() is None
        after_empty = spool.append("samples", 1, payload(3))
        spool.remove_through(after_empty)
    with Spool(spool_path) as spool:
        assert len(spool) == 0
        after_reopen = spool.append("samples", 1, payload(4))
    assert ids == sorted(ids)
    assert ids[-1] < after_empty < after_reopen


def test_head_takes_entries_up_to_max_count_but_at_least_one(spool: Spool) -> None:
    ids = spool.append_many([("samples", c, payload(c)) for c in (3, 4, 5, 10)])

    def head_ids(max_count: int) -> list[int]:
        return [e.id for e in spool.head(max_count)]

    assert head_ids(7) == ids[:2]  # 3 + 4 = 7 fits exactly
    assert head_ids(11) == ids[:2]  # 3 + 4 + 5 = 12 does not
    assert head_ids(12) == ids[:3]
    assert head_ids(6) == ids[:1]
    assert head_ids(2) == ids[:1]  # more than asked for, but never nothing
    assert head_ids(0) == ids[:1]
    assert head_ids(ALL) == ids
    assert len(spool) == 4  # head only looks
    spool.remove_through(ids[2])
    assert head_ids(1) == ids[3:]  # a single entry larger than max_count still comes out
    spool.remove_through(ids[3])
    assert spool.head(ALL) == []


def test_append_many_of_nothing_and_bad_counts_change_nothing(spool: Spool) -> None:
    assert spool.append_many([]) == []
    with pytest.raises(ValueError, match="negative"):
        spool.append_many([("samples", 1, b"a"), ("samples", -1, b"b")])
    assert len(spool) == 0
    assert spool.append("samples", 0, b"") == 1  # empty batches are legal entries


# --- crash safety -------------------------------------------------------------------------------

CHILD = """
import sys
from pathlib import Path
from loggerd.storage.spool import Spool

def payload(n, size=1000):
    unit = f"entry {n};".encode()
    return (unit * (size // len(unit) + 1))[:size]

spool = Spool(Path(sys.argv[1]), synchronous=sys.argv[2])
n = 0
while True:
    if n % 3 == 2:
        ids = spool.append_many([("samples", 2, payload(n)), ("events", 1, payload(n + 1))])
        n += 2
    else:
        ids = [spool.append("samples", 2, payload(n))]
        n += 1
    print(*ids, flush=True)
"""


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
def test_sigkill_loses_nothing_that_was_appended(spool_path: Path, synchronous: str) -> None:
    reported: list[int] = []
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(spool_path), synchronous],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        for line in child.stdout:
            reported.extend(int(word) for word in line.split())
            if len(reported) >= 300:
                break
        # Killed while it keeps appending: most likely in the middle of a transaction.
        child.kill()
        rest = child.stdout.read()  # what it printed before the signal landed
        errors = child.stderr.read()
        child.wait()
    assert child.returncode == -signal.SIGKILL, errors
    for line in rest.splitlines(keepends=True):
        if line.endswith("\n"):  # a line cut by the kill was not a report
            reported.extend(int(word) for word in line.split())
    assert len(reported) >= 300, errors

    assert integrity(spool_path) == ["ok"]
    with Spool(spool_path) as spool:
        entries = spool.head(ALL)
        ids = [e.id for e in entries]
        assert ids[: len(reported)] == reported
        # At most the one append (of up to two entries) under way when it was killed, whole.
        assert len(ids) - len(reported) <= 2
        assert ids == list(range(1, len(ids) + 1))  # no holes: nothing half-written
        assert [e.payload for e in entries] == [payload(n) for n in range(len(entries))]
        assert spool.pending_count() == sum(e.count for e in entries)
        assert spool.append("samples", 1, b"after") == ids[-1] + 1


# --- a full spool -------------------------------------------------------------------------------


def test_full_spool_refuses_the_batch_and_keeps_the_rest(spool_path: Path) -> None:
    with Spool(spool_path, max_bytes=64 * 1024) as spool:
        ids, full = fill(spool)
        assert len(ids) >= 10  # the limit is what stopped it, not a failure at the first append
        message = str(full)
        assert str(spool_path) in message
        assert "max_bytes" in message and "safe" in message and "not spooled" in message

        before = spool.head(ALL)
        # A batch that fails part way leaves nothing: the small first entry would fit alone.
        with pytest.raises(SpoolFull):
            spool.append_many([("samples", 1, b"fits"), ("samples", 1, payload(-1, 100_000))])
        assert spool.head(ALL) == before
        assert (len(spool), spool.pending_count()) == (len(ids), len(ids))
        assert [e.payload for e in before] == [payload(n) for n in range(len(ids))]
        assert integrity(spool_path) == ["ok"]

        # The drain makes room; no id was spent on the appends that failed.
        spool.remove_through(ids[len(ids) // 2])
        next_id = spool.append("samples", 1, payload(len(ids)))
        assert next_id == ids[-1] + 1
        assert integrity(spool_path) == ["ok"]


def test_full_spool_takes_appends_again_under_a_higher_limit(spool_path: Path) -> None:
    with Spool(spool_path, max_bytes=64 * 1024) as spool:
        ids, _ = fill(spool)
    with Spool(spool_path, max_bytes=64 * 1024) as spool, pytest.raises(SpoolFull):
        spool.append("samples", 1, payload(len(ids)))
    with Spool(spool_path, max_bytes=1024 * 1024) as spool:
        more = [spool.append("samples", 1, payload(len(ids) + n)) for n in range(20)]
        assert more == list(range(ids[-1] + 1, ids[-1] + 21))
        entries = spool.head(ALL)
        assert [e.payload for e in entries] == [payload(n) for n in range(len(ids) + 20)]
        assert spool.size_bytes() >= (len(ids) + 20) * 1000
    assert integrity(spool_path) == ["ok"]


# --- files that are not a usable spool ----------------------------------------------------------


def test_garbage_file_is_refused_and_left_alone(spool_path: Path) -> None:
    spool_path.parent.mkdir(parents=True)
    garbage = b"this is not a database\n" * 500
    spool_path.write_bytes(garbage)
    with pytest.raises(SpoolError) as caught:
        Spool(spool_path)
    assert str(spool_path) in str(caught.value)
    assert "move the file aside" in str(caught.value)
    assert not isinstance(caught.value, SpoolFull)
    assert spool_path.read_bytes() == garbage  # the evidence is kept


def test_damaged_spool_is_refused(spool_path: Path) -> None:
    with Spool(spool_path) as spool:
        spool.append_many([("samples", 1, payload(n)) for n in range(50)])
    data = bytearray(spool_path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    assert len(data) > 4 * page_size
    data[page_size:] = b"\xa5" * (len(data) - page_size)  # every page but the schema's
    spool_path.write_bytes(bytes(data))
    with pytest.raises(SpoolError, match="damaged") as caught:
        Spool(spool_path)
    assert str(spool_path) in str(caught.value)


def test_another_sqlite_database_is_not_taken_for_a_spool(tmp_path: Path) -> None:
    history = tmp_path / "history.db"
    with contextlib.closing(sqlite3.connect(history)) as conn:
        conn.execute("CREATE TABLE samples (ts_us INTEGER)")
        conn.commit()
    with pytest.raises(SpoolError, match="not a loggerd spool") as caught:
        Spool(history)
    assert str(history) in str(caught.value)
    with contextlib.closing(sqlite3.connect(history)) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master")]
    assert tables == ["samples"]


def test_spool_of_another_format_is_refused(spool_path: Path) -> None:
    Spool(spool_path).close()
    with contextlib.closing(sqlite3.connect(spool_path)) as conn:
        conn.execute("PRAGMA user_version=2")
    with pytest.raises(SpoolError, match="format 2"):
        Spool(spool_path)


def test_unopenable_path_and_bad_settings_are_spool_errors(tmp_path: Path) -> None:
    with pytest.raises(SpoolError, match=str(tmp_path)):
        Spool(tmp_path)  # a folder
    with pytest.raises(SpoolError, match="synchronous"):
        Spool(tmp_path / "spool.db", synchronous="OFF")
    with pytest.raises(SpoolError, match="max_bytes"):
        Spool(tmp_path / "spool.db", max_bytes=0)


def test_a_closed_spool_says_so(spool_path: Path) -> None:
    spool = Spool(spool_path)
    spool.close()
    spool.close()
    with pytest.raises(SpoolError, match="closed"):
        spool.append("samples", 1, b"x")
    with pytest.raises(SpoolError, match="closed"):
        len(spool)


# --- threads ------------------------------------------------------------------------------------


def test_appends_from_many_threads_all_land_while_a_drain_runs(spool: Spool) -> None:
    writers, per_writer = 8, 100
    writing_done = threading.Event()
    drained: list[SpoolEntry] = []

    def write(w: int) -> list[int]:
        ids = []
        for n in range(per_writer):
            if n % 10 == 9:
                pair = [("samples", 2, f"{w}/{n}".encode()), ("events", 0, f"{w}/{n}e".encode())]
                ids.extend(spool.append_many(pair))
            else:
                ids.append(spool.append("samples", 2, f"{w}/{n}".encode()))
        return ids

    def drain() -> None:
        # Like the daemon's drain loop, but without a store: take the head, then remove it.
        while True:
            entries = spool.head(25)
            if entries:
                drained.extend(entries)
                spool.remove_through(entries[-1].id)
            elif writing_done.is_set() and len(spool) == 0:
                return

    with ThreadPoolExecutor(max_workers=writers + 1) as pool:
        drainer = pool.submit(drain)
        results = list(pool.map(write, range(writers)))
        writing_done.set()
        drainer.result()

    appended = [i for ids in results for i in ids]
    assert len(appended) == writers * (per_writer + per_writer // 10)
    assert len(set(appended)) == len(appended)
    for ids in results:
        assert ids == sorted(ids)  # each thread sees its own appends in order
    # The drain saw every entry exactly once, in id order, with the right contents.
    assert [e.id for e in drained] == sorted(appended)
    expected = {f"{w}/{n}".encode() for w in range(writers) for n in range(per_writer)} | {
        f"{w}/{n}e".encode() for w in range(writers) for n in range(9, per_writer, 10)
    }
    assert {e.payload for e in drained} == expected
    assert sum(e.count for e in drained) == writers * per_writer * 2
    assert (len(spool), spool.pending_count()) == (0, 0)
