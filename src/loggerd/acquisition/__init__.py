"""Polling devices on their schedules, following loggers' memories and clocks, and the operations a
person runs on one device. Knows no SQL and no HTTP.
"""
