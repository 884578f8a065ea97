"""The run book on both engines: runs open, close once, one open per chamber, read back whole."""

from __future__ import annotations

import pytest

from loggerd.core.profiles import parse_profile
from loggerd.storage.runs import RunConflict, UnknownRun
from loggerd.storage.store import Store

from .conftest import StoreFactory

COLD_SOAK = parse_profile(
    {
        "segments": [
            {"kind": "soak", "duration_s": 600, "temperature_c": {"setpoint": 23, "tolerance": 2}},
            {
                "kind": "ramp",
                "duration_s": 5400,
                "temperature_c": {"setpoint": -70, "tolerance": 3},
            },
            {
                "kind": "soak",
                "duration_s": 7200,
                "temperature_c": {"setpoint": -70, "tolerance": 2},
            },
        ]
    }
)
S = 1_000_000


def create(store: Store, chamber: str = "c1", start_s: int = 1000) -> int:
    run = store.runs.create(chamber, "T-42", "PSU-7 s/n 0031", "j.li", COLD_SOAK, start_s * S, 0)
    return run.id


def test_a_run_is_read_back_as_it_was_created(store: Store) -> None:
    run_id = create(store)
    run = store.runs.get(run_id)
    assert run is not None and run.open
    assert (run.chamber_id, run.test_id, run.unit_under_test, run.operator) == (
        "c1",
        "T-42",
        "PSU-7 s/n 0031",
        "j.li",
    )
    assert run.profile == COLD_SOAK and run.start_us == 1000 * S


def test_one_open_run_per_chamber_and_a_closed_run_stays_closed(stores: StoreFactory) -> None:
    store, other_client = stores(), stores()
    first = create(store)
    with pytest.raises(RunConflict, match=f"run {first} open: close it first"):
        create(other_client)
    create(other_client, chamber="c2")  # another chamber is free
    closed = store.runs.close(first, 9000 * S)
    assert closed.end_us == 9000 * S and not closed.open
    with pytest.raises(RunConflict, match="already closed"):
        other_client.runs.close(first, 9500 * S)
    second = create(other_client, start_s=9000)  # the chamber is free again
    assert [r.id for r in store.runs.list(chamber_id="c1")] == [second, first]
    assert [r.id for r in store.runs.list(open_only=True)] == sorted(
        [second, *(r.id for r in store.runs.list(chamber_id="c2"))], reverse=True
    )


def test_closing_refuses_what_makes_no_sense(store: Store) -> None:
    run_id = create(store)
    with pytest.raises(RunConflict, match="cannot end before it started"):
        store.runs.close(run_id, 999 * S)
    with pytest.raises(UnknownRun, match="no run 4242"):
        store.runs.close(4242, 2000 * S)
    assert store.runs.get(4242) is None
