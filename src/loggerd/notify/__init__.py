"""Alarm notifications: each target (a webhook, an MQTT broker) sent every alarm action in the
order it was stored, once, retried with back-off while the receiver is down."""
