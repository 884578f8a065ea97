"""The path-aware TOML loader: every problem at `file:line: key.path`, the line being the one a
person has to fix, not the first line that happens to hold the same key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field

from loggerd_protocol.toml_document import (
    Problem,
    TomlDocument,
    TomlDocumentError,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Limits(_Strict):
    low: float
    high: float


class Sensor(_Strict):
    id: str
    kind: str
    channel: int = Field(ge=1, le=16)
    limits: Limits | None = None


class Bench(_Strict):
    name: str
    sensor: list[Sensor] = []


BENCH = """\
name = "bench 1"

[[sensor]]
id = "t1"
kind = "pt100"
channel = 1

[[sensor]]
id = "t2"
kind = "pt100"
channel = 2
limits = { low = -90.0, high = 180.0 }
"""


def problems(text: str, model: type[BaseModel] = Bench) -> list[str]:
    with pytest.raises(TomlDocumentError) as exc:
        TomlDocument.parse(text, "bench.toml").validate(model)
    assert str(exc.value) == "\n".join(str(p) for p in exc.value.problems)
    return str(exc.value).splitlines()


def test_a_good_document_validates() -> None:
    bench = TomlDocument.parse(BENCH, "bench.toml").validate(Bench)
    assert [s.channel for s in bench.sensor] == [1, 2]
    assert bench.sensor[1].limits == Limits(low=-90.0, high=180.0)


def test_a_key_in_the_second_array_table_is_at_its_own_line() -> None:
    text = BENCH.replace("channel = 2", "channel = 17")
    assert problems(text) == [
        "bench.toml:11: sensor[1] (id 't2').channel: "
        "Input should be less than or equal to 16 (got 17)"
    ]


def test_an_unknown_key_is_at_its_line() -> None:
    text = BENCH.replace('kind = "pt100"\nchannel = 2', 'kind = "pt100"\nchanel = 2')
    assert problems(text) == [
        "bench.toml:8: sensor[1] (id 't2').channel: Field required",
        "bench.toml:11: sensor[1] (id 't2').chanel: unknown key (check the spelling)",
    ]


def test_a_missing_key_is_at_the_header_of_its_table() -> None:
    text = BENCH.replace('id = "t1"\nkind = "pt100"\n', 'id = "t1"\n')
    assert problems(text) == ["bench.toml:3: sensor[0] (id 't1').kind: Field required"]


def test_a_key_of_a_nested_inline_table_is_at_the_inline_tables_line() -> None:
    text = BENCH.replace("high = 180.0", 'high = "hot"')
    assert problems(text) == [
        "bench.toml:12: sensor[1] (id 't2').limits.high: "
        "Input should be a valid number, unable to parse string as a number (got 'hot')"
    ]


def test_a_syntax_error_names_the_file_and_tomllibs_line() -> None:
    [line] = problems(BENCH.replace('kind = "pt100"\nchannel = 2', 'kind = "pt100\nchannel = 2'))
    assert line.startswith("bench.toml: not valid TOML: ")
    assert "line 10" in line


def test_a_file_that_is_not_utf8_is_one_line_saying_so(tmp_path: Path) -> None:
    path = tmp_path / "bench.toml"
    path.write_bytes(BENCH.replace("bench 1", "Prüfstand").encode("latin-1"))
    with pytest.raises(TomlDocumentError) as exc:
        TomlDocument.read(path, what="the bench file").validate(Bench)
    assert str(exc.value) == (
        f"{path}:1: the bench file is not UTF-8 text (byte 0xFC cannot be decoded); "
        "save it as UTF-8"
    )
    assert [p.line for p in exc.value.problems] == [1]


def test_a_file_that_cannot_be_read_says_so(tmp_path: Path) -> None:
    with pytest.raises(TomlDocumentError, match=r"missing\.toml: cannot read the bench file: No "):
        TomlDocument.read(tmp_path / "missing.toml", what="the bench file").validate(Bench)
    with pytest.raises(TomlDocumentError, match=r": cannot read the file: Is a directory"):
        TomlDocument.read(tmp_path)


def test_a_file_validates_with_its_path_as_the_source(tmp_path: Path) -> None:
    path = tmp_path / "bench.toml"
    path.write_text(BENCH.replace("channel = 1", "channel = 0"), "utf-8")
    with pytest.raises(TomlDocumentError) as exc:
        TomlDocument.read(path).validate(Bench)
    [problem] = exc.value.problems
    assert problem == Problem(
        str(path),
        6,
        "sensor[0] (id 't1').channel",
        "Input should be greater than or equal to 1 (got 0)",
    )


def test_a_caller_reports_its_own_rule_at_a_key_path() -> None:
    doc = TomlDocument.parse(BENCH.replace('id = "t2"', 'id = "t1"'), "bench.toml")
    bench = doc.validate(Bench)
    seen: set[str] = set()
    found = []
    for i, sensor in enumerate(bench.sensor):
        if sensor.id in seen:
            found.append(doc.problem(("sensor", i, "id"), f"sensor {sensor.id!r} is given twice"))
        seen.add(sensor.id)
    assert str(TomlDocumentError(found)) == (
        "bench.toml:9: sensor[1] (id 't1').id: sensor 't1' is given twice"
    )
    error = doc.error(("sensor", 0), "no sensor may be first")
    assert str(error) == "bench.toml:3: sensor[0] (id 't1'): no sensor may be first"
    assert str(doc.error((), "empty")) == "bench.toml: (document): empty"


def test_a_table_inside_the_document_validates_in_place() -> None:
    doc = TomlDocument.parse(BENCH.replace("low = -90.0", "low = []"), "bench.toml")
    with pytest.raises(TomlDocumentError) as exc:
        doc.validate(Limits, at=("sensor", 1, "limits"), unknown_key="not a limit")
    assert str(exc.value) == (
        "bench.toml:12: sensor[1] (id 't2').limits.low: Input should be a valid number (got [])"
    )


class Step(_Strict):
    name: str
    setpoints: list[float]


class Program(_Strict):
    title: str
    step: list[Step]


class Chamber(_Strict):
    id: str
    program: list[Program] = []


class Lab(_Strict):
    chamber: list[Chamber]


LAB = '''\
[[chamber]]
id = "c1"
# [[chamber.program]] in a comment is no header
[[chamber.program]]
title = """
[[chamber.program]]
step = "not a header: inside a string"
"""

[[chamber.program.step]]
name = "cool"
setpoints = [
    -20.0,
    -40.0,
]

[[chamber]]
id = "c2"

[[chamber.program]]
title = 'two'

[[chamber.program.step]]
"name" = "soak"
setpoints = [
    1.0,  # a comment between items
    "x",
]
'''


def test_nested_arrays_of_tables_and_multiline_values_keep_their_lines() -> None:
    assert problems(LAB, Lab) == [
        "bench.toml:27: chamber[1] (id 'c2').program[0].step[0] (name 'soak').setpoints[1]: "
        "Input should be a valid number, unable to parse string as a number (got 'x')"
    ]
    doc = TomlDocument.parse(LAB, "lab.toml")
    assert doc.line(("chamber", 0, "program", 0, "step", 0, "setpoints", 1)) == 14
    assert doc.line(("chamber", 0, "program", 0, "step", 0, "name")) == 11
    assert doc.line(("chamber", 1, "program", 0)) == 20
    assert doc.line(("chamber", 1, "program", 0, "step", 0, "name")) == 24


@given(
    st.lists(
        st.lists(
            st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 3)),
            max_size=4,
            unique_by=lambda kv: kv[0],
        ),
        min_size=1,
        max_size=5,
    ),
    st.booleans(),
)
def test_every_key_of_every_array_table_is_at_the_line_it_was_written(
    tables: list[list[tuple[str, int]]], blank_lines: bool
) -> None:
    """Keys repeat across tables on purpose: each must be found in its own table."""
    text: list[str] = ['title = "x"']
    where: dict[tuple[str | int, ...], int] = {}
    for i, keys in enumerate(tables):
        text += ["", "[[row]]"] if blank_lines else ["[[row]]"]
        where["row", i] = len(text)
        for key, blanks in keys:
            text += [""] * blanks + [f"{key} = {i}"]
            where["row", i, key] = len(text)
    doc = TomlDocument.parse("\n".join(text), "t.toml")
    for path, line in where.items():
        assert doc.line(path) == line, path
