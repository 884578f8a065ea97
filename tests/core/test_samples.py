"""Sample is a value: equal and hashed by its fields, copied with replace(), never changed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import FrozenInstanceError, replace
from pathlib import Path

from loggerd.core.samples import Quality, Sample, TimeSource


def _sample(value: float = 1.5) -> Sample:
    return Sample("c", "t", 1_000, value, value, Quality.GOOD, TimeSource.LOGGER, 7)


def test_equal_and_hashed_by_fields() -> None:
    assert _sample() == _sample()
    assert hash(_sample()) == hash(_sample())
    assert _sample() != _sample(2.0)
    assert len({_sample(), _sample(), _sample(2.0)}) == 2


def test_replace_makes_a_new_sample() -> None:
    s = _sample()
    r = replace(s, quality=Quality.INCONSISTENT)
    assert (s.quality, r.quality) == (Quality.GOOD, Quality.INCONSISTENT)
    assert (r.value, r.sequence, r.time_source) == (1.5, 7, TimeSource.LOGGER)


def test_has_no_instance_dict() -> None:
    # slots: a misspelt field cannot be added to a sample by mistake
    s = _sample()
    try:
        s.valeu = 2.0  # type: ignore[attr-defined]
    except (AttributeError, FrozenInstanceError):
        pass
    else:
        raise AssertionError("a sample took an attribute it does not have")


def test_the_type_checker_refuses_an_assignment(tmp_path: Path) -> None:
    """Immutability is the type checker's to enforce (a run-time guard cost 8x the making)."""
    code = tmp_path / "assign.py"
    code.write_text(
        textwrap.dedent(
            """
            from loggerd.core.samples import Quality, Reading, Sample, TimeSource
            s = Sample("c", "t", 1, 1.0, 1.0, Quality.GOOD, TimeSource.HOST)
            s.value = 2.0
            r = Reading("temperature_1", 1.0, 1.0, Quality.GOOD)
            r.quality = Quality.MISSING
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", str(code)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout
    assert 'Property "value" defined in "Sample" is read-only' in result.stdout
    assert 'Property "quality" defined in "Reading" is read-only' in result.stdout
