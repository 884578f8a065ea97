"""Alarms: rules judged on accepted samples and on the daemon's status, their states and
history, and the notifications they send."""
