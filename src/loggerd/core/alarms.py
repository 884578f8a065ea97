"""Alarms as every layer sees them: what kind, about what, raised or cleared when; and an alarm
as stored, with its acknowledgement."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AlarmKind(StrEnum):
    HIGH = "high"  # above the high limit (for delay_s), until below it by the deadband
    LOW = "low"
    RATE = "rate"  # changing faster than the limit, per minute, over the rule's window
    DEVIATION = "deviation"  # off the open run's setpoint by more than its tolerance
    SENSOR_FAULT = "sensor_fault"  # the sample says the sensor is open, shorted or faulty
    STALE = "stale"  # no sample with a value for longer than max_age_s
    COMMUNICATION = "communication"  # the device does not answer (offline, or its line down)
    MEMORY = "memory"  # the logger's unread records fill most of its memory: overwrite is near
    CALIBRATION = "calibration"  # the channel's certificate is past due


class AlarmSeverity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class AlarmKey:
    kind: AlarmKind
    chamber_id: str
    subject: str  # the channel, or for communication and memory the device


@dataclass(frozen=True)
class Transition:
    key: AlarmKey
    raised: bool  # False: cleared
    utc_us: int  # the time of the sample (or status look) that caused it
    severity: AlarmSeverity
    message: str
    value: float | None = None
    limit: float | None = None


@dataclass(frozen=True)
class AlarmAction:
    utc_us: int
    action: str  # raised | acknowledged | cleared
    by: str | None
    text: str


@dataclass(frozen=True)
class Alarm:
    """An alarm as stored: active until cleared, acknowledged (or not) by a person."""

    id: int
    key: AlarmKey
    severity: AlarmSeverity
    message: str
    value: float | None
    limit: float | None
    raised_us: int
    cleared_us: int | None
    acked_us: int | None
    acked_by: str | None
    ack_comment: str | None
    history: tuple[AlarmAction, ...] = ()

    @property
    def state(self) -> str:
        """active | acknowledged (still active) | cleared."""
        if self.cleared_us is not None:
            return "cleared"
        return "acknowledged" if self.acked_us is not None else "active"


@dataclass(frozen=True)
class Notice:
    """One action on an alarm, to be sent to a notification target (webhook, MQTT)."""

    seq: int  # the order it was stored in: targets deliver in this order, each once
    alarm: Alarm  # as it stands now (its history left out)
    action: AlarmAction

    def payload(self) -> dict[str, object]:
        from loggerd.core.times import iso

        a = self.alarm
        return {
            "alarm_id": a.id,
            "chamber_id": a.key.chamber_id,
            "kind": str(a.key.kind),
            "subject": a.key.subject,
            "severity": str(a.severity),
            "state": a.state,
            "action": self.action.action,
            "time": iso(self.action.utc_us),
            "by": self.action.by,
            "text": self.action.text,
            "message": a.message,
            "value": a.value,
            "limit": a.limit,
            "raised": iso(a.raised_us),
        }
