"""Where alarm notifications go: a webhook (HTTP POST of JSON) or an MQTT broker (QoS 1)."""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from loggerd.core.alarms import Notice

SEND_TIMEOUT_S = 10.0


class Webhook:
    """POSTs each notice as JSON; a 2xx answer is a delivery, anything else is retried."""

    def __init__(self, url: str, timeout_s: float = SEND_TIMEOUT_S) -> None:
        self.url = url
        self._client = httpx.Client(timeout=timeout_s)

    @property
    def name(self) -> str:
        return f"webhook:{self.url}"

    def send(self, notice: Notice) -> None:
        try:
            r = self._client.post(self.url, json=notice.payload())
        except httpx.HTTPError as exc:
            raise ConnectionError(f"POST {self.url} failed: {exc}") from None
        if not r.is_success:
            raise ConnectionError(f"POST {self.url} answered {r.status_code}")

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class MqttSettings:
    url: str  # mqtt://host:1883 or mqtts://host:8883
    prefix: str = "loggerd"
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None  # mqtts: the broker's CA (default: the system's)
    client_id: str = "loggerd-alarms"


class MqttAlarms:
    """Publishes each notice to `{prefix}/{chamber}/alarms/{kind}/{subject}` at QoS 1 and waits
    for the broker's acknowledgement; the alarm's current state is also kept retained on
    `…/state`, so a client that subscribes later sees what is active."""

    def __init__(self, settings: MqttSettings, timeout_s: float = SEND_TIMEOUT_S) -> None:
        parts = urlsplit(settings.url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"{settings.url}: an MQTT URL is mqtt://host[:port] or mqtts://…")
        self.settings = settings
        self.timeout_s = timeout_s
        self._host = parts.hostname
        self._port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=settings.client_id, clean_session=False
        )
        if settings.username is not None:
            self._client.username_pw_set(settings.username, settings.password)
        if parts.scheme == "mqtts":
            self._client.tls_set(ca_certs=settings.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        self._connected = threading.Event()
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._started = False

    @property
    def name(self) -> str:
        return f"mqtt:{self.settings.url}/{self.settings.prefix}"

    def _on_connect(self, client: object, userdata: object, flags: object, rc: object,
                    props: object = None) -> None:  # fmt: skip
        if not getattr(rc, "is_failure", False):
            self._connected.set()

    def _on_disconnect(self, *args: object) -> None:
        self._connected.clear()

    def _ensure_connected(self) -> None:
        if not self._started:
            self._client.connect_async(self._host, self._port, keepalive=30)
            self._client.loop_start()  # paho's own thread reconnects on its own
            self._started = True
        if not self._connected.wait(self.timeout_s):
            raise ConnectionError(f"no connection to the MQTT broker {self.settings.url}")

    def send(self, notice: Notice) -> None:
        self._ensure_connected()
        p = notice.payload()
        base = f"{self.settings.prefix}/{p['chamber_id']}/alarms/{p['kind']}/{p['subject']}"
        body = json.dumps(p)
        event = self._client.publish(base, body, qos=1)
        state = self._client.publish(f"{base}/state", body, qos=1, retain=True)
        for info in (event, state):
            info.wait_for_publish(self.timeout_s)
            if not info.is_published():
                raise ConnectionError(f"the MQTT broker {self.settings.url} did not acknowledge")

    def close(self) -> None:
        if self._started:
            self._client.loop_stop()
            self._client.disconnect()
        # paho closes its wake-up socket pair only when the client is collected (__del__),
        # and this object and its client refer to each other: close it now.
        self._client._reset_sockets()
