"""The arrays the chamber statistics take: times in seconds and values, instants down."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


def as_series(times_s: npt.ArrayLike, values: npt.ArrayLike) -> tuple[Array, Array]:
    """Times (1-D) and values as instants x points (a 1-D series becomes one column), checked
    to be as long as each other and the times to increase."""
    t = np.asarray(times_s, dtype=np.float64)
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if t.ndim != 1 or t.shape[0] != x.shape[0]:
        raise ValueError(f"times ({t.shape}) and values ({x.shape}) differ in length")
    if t.size and np.any(np.diff(t) <= 0):
        raise ValueError("times must increase")
    return t, x
