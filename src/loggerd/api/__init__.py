"""The HTTP API, built from read-only ports (live readings, health, history, events, catalog).
Never talks to a device.
"""
