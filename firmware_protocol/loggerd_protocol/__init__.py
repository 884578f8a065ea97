"""The reference logger's wire protocol: its register map and pure codecs built from it."""

from __future__ import annotations

from .definition import Definition, Field, Point, reference_logger

__all__ = ["Definition", "Field", "Point", "reference_logger"]
