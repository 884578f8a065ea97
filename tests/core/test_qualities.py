"""Every quality word is documented in one table, and fits the store's column."""

from __future__ import annotations

import re
from pathlib import Path

from loggerd.core.samples import Quality
from loggerd.storage.schema import samples

TABLE = Path(__file__).resolve().parents[2] / "docs" / "qualities.md"


def test_every_quality_word_has_a_row_in_docs_qualities() -> None:
    rows = re.findall(r"^\| `([a-z_]+)` \|", TABLE.read_text("utf-8"), re.MULTILINE)
    assert sorted(rows) == sorted([*(q.value for q in Quality), "no_data"])


def test_every_quality_word_fits_the_stores_column() -> None:
    width = samples.c.quality.type.length
    assert width == 16
    assert all(len(q.value) <= width for q in Quality)
