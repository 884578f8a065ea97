"""Alarm notifications to a real webhook server and to the Mosquitto broker on 127.0.0.1:1883:
every action once and in order, retried while the receiver is down, resumed after a restart."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from loggerd.core.alarms import AlarmKey, AlarmKind, AlarmSeverity, Transition
from loggerd.core.backoff import Backoff
from loggerd.notify.sender import Sender
from loggerd.notify.targets import MqttAlarms, MqttSettings, Webhook
from loggerd.storage.store import Store, sqlite_url

S = 1_000_000
T0 = 1_796_000_000 * S
HIGH = AlarmKey(AlarmKind.HIGH, "c1", "t1")
WAIT_S = 20  # an upper bound for a failing test, not a pause: events end every wait


def stopped(client: mqtt.Client) -> None:
    client.loop_stop()
    client.disconnect()
    client._reset_sockets()  # paho closes its wake-up sockets only when collected


def transitions(first_s: int) -> list[Transition]:
    crit = AlarmSeverity.CRITICAL
    return [
        Transition(HIGH, True, T0 + first_s * S, crit, "t1 = 26 above 25", 26.0, 25.0),
        Transition(HIGH, False, T0 + (first_s + 10) * S, crit, "t1: high cleared"),
    ]


class Receiver(ThreadingHTTPServer):
    """Answers 503 to the first `down` requests, then 200; counts deliveries."""

    def __init__(self, down: int, expect: int) -> None:
        self.down = down
        self.bodies: list[dict[str, Any]] = []
        self.refused = 0
        self.expect = expect
        self.done = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if self.server.refused < self.server.down:
            self.server.refused += 1
            self.send_response(503)
        else:
            self.server.bodies.append(body)
            self.send_response(200)
            if len(self.server.bodies) >= self.server.expect:
                self.server.done.set()
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(sqlite_url(tmp_path))
    s.upgrade()
    yield s
    s.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(down=2, expect=3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_webhook_that_is_down_gets_every_action_once_in_order(
    store: Store, receiver: Receiver
) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/alarms"
    sender = Sender(store.alarms, Webhook(url), Backoff(0.01, 0.05, jitter=0))
    sender.start()  # registered before anything is stored: it gets all that follows
    try:
        (alarm_id,) = store.alarms.apply(transitions(0)[:1])
        store.alarms.acknowledge(alarm_id, "j.li", "seal checked", T0 + 5 * S)
        store.alarms.apply(transitions(0)[1:])
        sender.poke()
        assert receiver.done.wait(WAIT_S), sender.health
    finally:
        sender.stop()
    assert [(b["action"], b["alarm_id"]) for b in receiver.bodies] == [
        ("raised", alarm_id),
        ("acknowledged", alarm_id),
        ("cleared", alarm_id),
    ]
    assert receiver.bodies[1]["by"] == "j.li" and receiver.bodies[1]["text"] == "seal checked"
    assert sender.health.failures == 2 and sender.health.delivered == 3
    assert sender.health.last_error is None  # delivered since


def test_a_restarted_sender_resumes_where_the_last_stopped(
    store: Store, receiver: Receiver
) -> None:
    receiver.down, receiver.expect = 0, 2
    url = f"http://127.0.0.1:{receiver.server_address[1]}/alarms"
    first = Sender(store.alarms, Webhook(url), Backoff(0.01, 0.05, jitter=0))
    first.start()
    store.alarms.apply(transitions(0))
    first.poke()
    assert receiver.done.wait(WAIT_S)
    first.stop()
    receiver.done.clear()
    receiver.expect = 4
    store.alarms.apply(transitions(100))  # stored while no sender runs
    second = Sender(store.alarms, Webhook(url), Backoff(0.01, 0.05, jitter=0))
    second.start()
    try:
        assert receiver.done.wait(WAIT_S)
    finally:
        second.stop()
    assert [b["time"] for b in receiver.bodies] == [
        "2026-11-30T00:53:20Z", "2026-11-30T00:53:30Z",
        "2026-11-30T00:55:00Z", "2026-11-30T00:55:10Z",
    ]  # fmt: skip


def test_mqtt_events_and_retained_state_on_the_broker(store: Store) -> None:
    prefix = f"loggerd-test-{uuid.uuid4().hex[:8]}"
    got: list[tuple[str, dict[str, Any], bool]] = []
    both = threading.Event()

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        got.append((message.topic, json.loads(message.payload), message.retain))
        if len(got) >= 4:
            both.set()

    subscribed = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2)
    sub.on_message = on_message
    sub.on_subscribe = lambda *args: subscribed.set()
    sub.connect("127.0.0.1", 1883)
    sub.subscribe(f"{prefix}/#", qos=1)
    sub.loop_start()
    target = MqttAlarms(MqttSettings("mqtt://127.0.0.1:1883", prefix, client_id=prefix))
    sender = Sender(store.alarms, target, Backoff(0.01, 0.05, jitter=0))
    try:
        assert subscribed.wait(WAIT_S)
        sender.start()
        store.alarms.apply(transitions(0))
        sender.poke()
        assert both.wait(WAIT_S), sender.health
    finally:
        sender.stop()
        stopped(sub)
    topic = f"{prefix}/c1/alarms/high/t1"
    assert [(t, p["action"]) for t, p, _ in got] == [
        (topic, "raised"), (f"{topic}/state", "raised"),
        (topic, "cleared"), (f"{topic}/state", "cleared"),
    ]  # fmt: skip
    assert got[3][1]["state"] == "cleared"
    # A subscriber arriving later is given the retained state: the alarm is cleared.
    late: list[dict[str, Any]] = []
    arrived = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2)
    c.on_message = lambda cl, u, m: (late.append(json.loads(m.payload)), arrived.set())
    c.connect("127.0.0.1", 1883)
    c.subscribe(f"{topic}/state", qos=1)
    c.loop_start()
    try:
        assert arrived.wait(WAIT_S)
    finally:
        stopped(c)
    assert late[0]["state"] == "cleared"
    cleanup = mqtt.Client(CallbackAPIVersion.VERSION2)  # leave no retained message behind
    cleanup.connect("127.0.0.1", 1883)
    cleanup.loop_start()
    cleanup.publish(f"{topic}/state", b"", qos=1, retain=True).wait_for_publish(WAIT_S)
    stopped(cleanup)


def test_a_broker_that_cannot_be_reached_is_said_and_retried(store: Store) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = MqttAlarms(MqttSettings(f"mqtt://127.0.0.1:{port}", "x"), timeout_s=0.2)
    sender = Sender(store.alarms, target, Backoff(0.01, 0.05, jitter=0))
    failed = threading.Event()
    original = sender._failed_wait

    def noted() -> float:
        failed.set()
        return original()

    sender._failed_wait = noted  # type: ignore[method-assign]
    sender.start()
    try:
        store.alarms.apply(transitions(0))
        sender.poke()
        assert failed.wait(WAIT_S)
    finally:
        sender.stop()
    assert sender.health.last_error is not None
    assert "no connection to the MQTT broker" in sender.health.last_error
    assert sender.health.delivered == 0
