"""The alarm log on both engines: raised, acknowledged, cleared, with history; idempotent."""

from __future__ import annotations

import pytest

from loggerd.core.alarms import AlarmKey, AlarmKind, AlarmSeverity, Transition
from loggerd.storage.alarm_log import AlarmConflict, UnknownAlarm
from loggerd.storage.store import Store

S = 1_000_000
HIGH = AlarmKey(AlarmKind.HIGH, "c1", "t1")


def raised(t_s: int, key: AlarmKey = HIGH) -> Transition:
    return Transition(key, True, t_s * S, AlarmSeverity.CRITICAL, "t1 = 26 above 25", 26.0, 25.0)


def cleared(t_s: int, key: AlarmKey = HIGH) -> Transition:
    return Transition(key, False, t_s * S, AlarmSeverity.CRITICAL, "t1: high cleared")


def test_an_alarm_from_raised_to_acknowledged_to_cleared(store: Store) -> None:
    (alarm_id,) = store.alarms.apply([raised(10)])
    assert store.alarms.apply([raised(11)]) == []  # the same condition again: no new alarm
    alarm = store.alarms.get(alarm_id)
    assert alarm is not None and alarm.state == "active" and alarm.value == 26.0
    acked = store.alarms.acknowledge(alarm_id, "j.li", "door seal checked", 20 * S)
    assert acked.state == "acknowledged" and acked.ack_comment == "door seal checked"
    with pytest.raises(AlarmConflict, match=r"acknowledged by j\.li already"):
        store.alarms.acknowledge(alarm_id, "k.wu", "again", 21 * S)
    assert store.alarms.apply([cleared(30), cleared(31)]) == [alarm_id]
    done = store.alarms.get(alarm_id)
    assert done is not None and done.state == "cleared" and done.cleared_us == 30 * S
    assert [(a.action, a.utc_us // S, a.by) for a in done.history] == [
        ("raised", 10, None),
        ("acknowledged", 20, "j.li"),
        ("cleared", 30, None),
    ]
    # Raised again later: a new alarm, the old one stays in the history.
    (again,) = store.alarms.apply([raised(40)])
    assert again != alarm_id
    assert [a.id for a in store.alarms.list(state="active")] == [again]
    assert [a.id for a in store.alarms.list(state="cleared")] == [alarm_id]
    assert store.alarms.open_keys() == [HIGH]


def test_unknown_alarms_are_refused(store: Store) -> None:
    with pytest.raises(UnknownAlarm, match="no alarm 77"):
        store.alarms.acknowledge(77, "j.li", "?", 0)
    assert store.alarms.get(77) is None
