"""The rule that quarantines a shared line as a whole, and its one probe a back-off period."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, target
from hypothesis import strategies as st

from loggerd.acquisition.line_gate import LineGate, Turn
from loggerd.core.backoff import Backoff

LINE = "/dev/ttyUSB0"
QUARANTINE_AFTER = 3


class Clock:
    """The gate's monotonic clock, moved by the test; its UTC is the same count in µs."""

    def __init__(self) -> None:
        self.s = 1000.0

    def __call__(self) -> float:
        return self.s

    def utc_us(self) -> int:
        return round(self.s * 1e6)


def make_gate(clock: Clock, devices: int = 3) -> LineGate:
    names = [f"rack/logger-{i}" for i in range(devices)]
    return LineGate(LINE, names, Backoff(10.0, 40.0, jitter=0.0), clock.utc_us, clock)


def test_a_line_of_one_device_is_that_device() -> None:
    with pytest.raises(ValueError, match="one device"):
        LineGate(LINE, ["rack/logger-0"], Backoff(10.0, 40.0))


def test_the_line_is_quarantined_when_a_device_gives_up_and_every_other_is_silent() -> None:
    clock = Clock()
    gate = make_gate(clock)
    a, b, c = gate.devices
    assert not gate.silent(a, "no reply", give_up=True)  # b and c not heard from yet
    assert not gate.silent(b, "no reply", give_up=False)
    assert not gate.silent(a, "no reply", give_up=True)  # c not heard from yet
    assert not gate.silent(c, "no reply", give_up=False)  # c is below its threshold
    assert gate.silent(a, "no reply", give_up=True)  # every device silent, a gives up
    h = gate.health
    assert (h.quarantined, h.quarantines) == (True, 1)
    assert h.quarantine_until_utc_us == clock.utc_us() + 10_000_000
    assert h.devices == list(gate.devices) and h.name == LINE


def test_any_reply_shows_the_line_carries() -> None:
    gate = make_gate(Clock())
    a, b, c = gate.devices
    gate.silent(b, "no reply", give_up=False)
    gate.silent(c, "no reply", give_up=False)
    gate.answered(b)  # a reply, even one that could not be used
    assert not gate.silent(a, "no reply", give_up=True)
    assert not gate.health.quarantined


def test_one_probe_a_period_in_turn_until_a_device_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="loggerd.acquisition.line_gate")
    clock = Clock()
    gate = make_gate(clock)
    a, b, c = gate.devices
    for device in (b, c):
        gate.silent(device, "no reply", give_up=False)
    assert gate.silent(a, "no reply from device 1", give_up=True)
    assert {gate.turn(d) for d in gate.devices} == {Turn.HOLD}  # the period runs
    clock.s += 10
    # The period is over: the device after the one that gave up probes, and only it.
    assert [gate.turn(d) for d in (a, c, b, b, c)] == [Turn.HOLD] * 2 + [Turn.PROBE] + [
        Turn.HOLD
    ] * 2
    assert gate.silent(b, "no reply", give_up=True)  # the probe failed: a longer period
    assert gate.health.quarantines == 2
    clock.s += 10
    assert {gate.turn(d) for d in gate.devices} == {Turn.HOLD}
    clock.s += 10
    assert [gate.turn(d) for d in (a, b, c, c)] == [Turn.HOLD, Turn.HOLD, Turn.PROBE, Turn.HOLD]
    gate.answered(c)
    assert not gate.health.quarantined and gate.health.quarantine_until_utc_us is None
    assert {gate.turn(d) for d in gate.devices} == {Turn.POLL}
    # One line when it went down, one each time a probe failed, one when it came back.
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert messages[0] == (
        logging.WARNING,
        f"line {LINE} (3 devices): no device answered (the last, {a}: no reply from device 1); "
        "quarantined for 10 s, then probed through one device at a time; check the cable, the "
        "adapter and the devices' power",
    )
    assert messages[1] == (
        logging.INFO,
        f"line {LINE}: no reply to the probe of {b} either; quarantined for 20 s more",
    )
    assert messages[2][0] == logging.INFO
    assert messages[2][1].startswith(f"line {LINE}: {c} answered; the line is back after 30 s")
    assert len(messages) == 3
    # Back to the first period after a success.
    for device in gate.devices:
        gate.silent(device, "no reply", give_up=True)
    assert gate.health.quarantine_until_utc_us == clock.utc_us() + 10_000_000


@given(
    devices=st.integers(2, 5),
    steps=st.lists(
        st.tuples(
            st.integers(0, 4),
            # Mostly ticks and silence: a line goes down only after a run of them.
            st.sampled_from(["tick"] * 4 + ["no reply"] * 4 + ["answer"]),
            st.sampled_from([0.0, 1.0, 5.0, 10.0, 40.0]),
        ),
        min_size=20,
        max_size=80,
    ),
)
def test_a_quarantined_line_sends_one_request_a_period_and_only_when_all_are_silent(
    devices: int, steps: list[tuple[int, str, float]]
) -> None:
    """Whatever the devices answer, and whenever their ticks come (also while another's
    request is under way): a line is quarantined only when every device on it is silent, and
    then sends one request at most (the probe) per back-off period, never before its end."""
    clock = Clock()
    gate = make_gate(clock, devices)
    failures = dict.fromkeys(gate.devices, 0)
    silent = dict.fromkeys(gate.devices, False)
    under_way: list[str] = []  # requests sent, in the order the line's thread runs them
    probed_periods: set[int] = set()  # each period by its end
    for index, step, advance_s in steps:
        clock.s += advance_s
        if step == "tick":
            device = gate.devices[index % devices]
            if device in under_way:
                continue  # a device's next tick waits for its poll under way
            until_us = gate.health.quarantine_until_utc_us
            turn = gate.turn(device)
            if until_us is None:
                assert turn is Turn.POLL
            elif turn is Turn.PROBE:
                assert clock.utc_us() >= until_us and until_us not in probed_periods
                probed_periods.add(until_us)
            else:
                assert turn is Turn.HOLD
            if turn is not Turn.HOLD:
                under_way.append(device)
            continue
        if not under_way:
            continue
        device = under_way.pop(0)
        if step == "answer":
            failures[device], silent[device] = 0, False
            gate.answered(device)
            assert not gate.health.quarantined
            continue
        failures[device] += 1
        silent[device] = True
        quarantined = gate.health.quarantined
        down = gate.silent(device, "no reply", failures[device] >= QUARANTINE_AFTER)
        assert down == gate.health.quarantined
        if not quarantined:
            assert down == (failures[device] >= QUARANTINE_AFTER and all(silent.values()))
    target(float(len(probed_periods)), label="probes")
