"""loggerd: acquisition service for temperature/humidity data loggers beside climatic chambers."""

from __future__ import annotations

__version__ = "0.1.0"
