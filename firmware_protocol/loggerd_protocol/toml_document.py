"""TOML text -> a validated pydantic model, every problem as `file:line: key.path: problem (got X)`.

One loader for every TOML file loggerd reads (device profiles, the daemon's configuration,
calibration certificates, simulator programmes), so that a person who mistyped a key is told
the same way everywhere, at the line to fix::

    doc = TomlDocument.read(path, what="the profile")   # or TomlDocument.parse(text, source)
    rows = doc.validate(ProfileDocument)                # pydantic's errors, located
    if clash:                                           # a rule that spans rows
        raise doc.error(("point", 3, "name"), "point 'rh' is defined twice")

A model's own validator can point at a key too: it raises LocatedValueError(path, message).

A key path is what pydantic calls a location: table and key names, and 0-based indices into
arrays (of tables or of values). The line of a path is found by reading the text once with a
small scanner that knows TOML's structure (headers, dotted and quoted keys, strings of every
kind, arrays and inline tables over any number of lines), so `[[point]]` number 3 is its own
header line and a key inside it is that key's line in that table, never the first line in the
file that happens to hold the same key. An item of an array is named by its `id`, `name` or
`field` where it has one: `point[3] (name 'rh').type`.

The text is parsed by tomllib; the scanner only runs on text tomllib accepted, so it never has
to judge syntax. A syntax error keeps tomllib's own wording, which ends with the line and
column: `file: not valid TOML: Expected '=' … (at line 4, column 9)`.
"""

from __future__ import annotations

import bisect
import itertools
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

KeyPath = tuple[str | int, ...]
Model = TypeVar("Model", bound=BaseModel)

UNKNOWN_KEY = "unknown key (check the spelling)"
NAMING_KEYS = ("id", "name", "field")  # what names an item of an array of tables, by default


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document, where it is and what it is."""

    source: str  # the file, or whatever the caller calls the text
    line: int | None  # 1-based; None where no line can be named
    key: str  # the readable key path, `point[3] (name 'rh').type`; "" for the whole file
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class TomlDocumentError(ValueError):
    """A document that cannot be used: one line a problem, each saying file, line and key."""

    def __init__(self, problems: Iterable[Problem] | str) -> None:
        if isinstance(problems, str):
            self.problems: tuple[Problem, ...] = ()
            super().__init__(problems)
        else:
            self.problems = tuple(problems)
            super().__init__("\n".join(str(p) for p in self.problems))


class LocatedValueError(ValueError):
    """Raised by a model's validator for a problem it can point at, such as a duplicate id in
    the third of several tables: `path` is relative to the model being validated, and the
    loader reports that key's line rather than the line of the whole table."""

    def __init__(self, path: KeyPath, message: str, where: str | None = None) -> None:
        """`where` says the place in words for a model validated in code, with no file:
        "certificate 'X': points[2] (indicated 1.5)"; the loader says file:line instead."""
        super().__init__(f"{where}: {message}" if where else message)
        self.path = tuple(path)
        self.message = message


class TomlDocument:
    """A parsed TOML text that knows the line of every table, key and array item in it."""

    def __init__(
        self,
        source: str,
        data: Mapping[str, Any],
        lines: Mapping[KeyPath, int] | None = None,
        naming: tuple[str, ...] = NAMING_KEYS,
    ) -> None:
        """`data` as tomllib gives it. Without `lines` (a document built in code rather than
        read) problems name the source and the key path but no line. `naming`: the keys whose
        value names an item of an array in a label (a certificate's rows by temperature_c)."""
        self.source = source
        self.data = data
        self._lines = dict(lines or {})
        self._naming = naming

    @classmethod
    def parse(
        cls, text: str, source: str = "<toml>", naming: tuple[str, ...] = NAMING_KEYS
    ) -> TomlDocument:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise TomlDocumentError([Problem(source, None, "", f"not valid TOML: {exc}")]) from None
        return cls(source, data, _Scanner(text).scan(), naming)

    @classmethod
    def read(
        cls, path: str | Path, what: str = "the file", naming: tuple[str, ...] = NAMING_KEYS
    ) -> TomlDocument:
        """Read and parse a file; `what` names it in a problem: "cannot read the profile"."""
        p = Path(path)
        try:
            raw = p.read_bytes()
        except OSError as exc:
            problem = Problem(str(p), None, "", f"cannot read {what}: {exc.strerror or exc}")
            raise TomlDocumentError([problem]) from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            message = (
                f"{what} is not UTF-8 text (byte 0x{raw[exc.start]:02X} cannot be decoded); "
                "save it as UTF-8"
            )
            raise TomlDocumentError([Problem(str(p), line, "", message)]) from None
        return cls.parse(text, str(p), naming)

    def validate(
        self, model: type[Model], *, at: KeyPath = (), unknown_key: str = UNKNOWN_KEY
    ) -> Model:
        """The table at `at` (the whole document by default) as a `model`, or a
        TomlDocumentError with one problem per error pydantic found, each at its line.
        `unknown_key` is what a key the model does not know is told."""
        return self.check(model, self.get(at), at=at, unknown_key=unknown_key)

    def check(
        self, model: type[Model], value: Any, *, at: KeyPath, unknown_key: str = UNKNOWN_KEY
    ) -> Model:
        """`value` (made from the document's table at `at`, e.g. some of its keys) as a
        `model`, its problems located as if the value sat at `at`."""
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            raise TomlDocumentError(self.problems(exc, at, unknown_key)) from None

    def problems(
        self, exc: ValidationError, at: KeyPath = (), unknown_key: str = UNKNOWN_KEY
    ) -> list[Problem]:
        """pydantic's errors for the table at `at`, each at its line."""
        problems = []
        for err in exc.errors():
            path = self._data_path((*at, *err["loc"]))
            ctx = err.get("ctx", {})
            located = ctx.get("error")
            if isinstance(located, LocatedValueError):
                problems.append(self.problem((*path, *located.path), located.message))
                continue
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message = unknown_key
            elif err["type"] == "union_tag_invalid":
                # A table whose kind is none of the kinds: said at its `kind` key.
                path = (*path, str(ctx.get("discriminator", "")).strip("'"))
                message = f"must be one of {ctx.get('expected_tags')} (got {ctx.get('tag')!r})"
            elif err["type"] != "missing":
                message += _got(err["type"], err["input"])
            problems.append(self.problem(path, message))
        return problems

    def _data_path(self, loc: KeyPath) -> KeyPath:
        """pydantic's location without the tags it inserts for a tagged union: in
        `step[1].ramp.rate_k_per_min`, "ramp" is the table's `kind`, not a key of the file."""
        out: list[str | int] = []
        node: Any = self.data
        for item in loc:
            if (
                isinstance(item, str)
                and isinstance(node, Mapping)
                and item not in node
                and item in node.values()
            ):
                continue
            out.append(item)
            node = _child(node, item)
        return tuple(out)

    def get(self, path: KeyPath) -> Any:
        """The value at `path`; None where there is none."""
        node: Any = self.data
        for item in path:
            node = _child(node, item)
        return node

    def line(self, path: KeyPath) -> int | None:
        """The line of `path`, or of the nearest table or key that holds it (where a missing key
        would go); None where not even its table is in the text."""
        for n in range(len(path), 0, -1):
            if path[:n] in self._lines:
                return self._lines[path[:n]]
        return None

    def label(self, path: KeyPath) -> str:
        """`point[3] (name 'rh').flags.covers`: the path as a reader finds it in the file."""
        parts: list[str] = []
        node: Any = self.data
        for item in path:
            if isinstance(item, int):
                parts.append(f"{parts.pop() if parts else ''}[{item}]")
                node = node[item] if isinstance(node, list) and 0 <= item < len(node) else None
                name = _item_name(node, self._naming)
                if name:
                    parts[-1] += f" ({name})"
            elif node is None or isinstance(node, Mapping):
                parts.append(item)
                node = node.get(item) if isinstance(node, Mapping) else None
            # else: pydantic's name for the member of a union it tried on a value, not a key
        return ".".join(parts) or "(document)"

    def problem(self, path: KeyPath, message: str) -> Problem:
        """A problem at `path`: collect several and raise TomlDocumentError(problems) once."""
        return Problem(self.source, self.line(path), self.label(path), message)

    def error(self, path: KeyPath, message: str) -> TomlDocumentError:
        """The error to raise for one problem at `path`."""
        return TomlDocumentError([self.problem(path, message)])


def _got(error_type: str, value: Any) -> str:
    if isinstance(value, Mapping):
        return ""  # a whole table: its line and key path say which; its text is long
    return f" (got {value!r})"


def _child(node: Any, item: str | int) -> Any:
    if isinstance(item, int) and isinstance(node, list) and 0 <= item < len(node):
        return node[item]
    if isinstance(item, str) and isinstance(node, Mapping):
        return node.get(item)
    return None


def _item_name(node: Any, naming: tuple[str, ...]) -> str | None:
    if isinstance(node, Mapping):
        for key in naming:
            value = node.get(key)
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                return f"{key} {value!r}"
    return None


_BARE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_VALUE_END = frozenset(",]}#\r\n")


class _Scanner:
    """Notes the line where each table, key and array item of valid TOML text begins.

    It walks the grammar's shape only (headers, keys, strings, arrays, inline tables) and takes
    every other value as a run of characters up to the next delimiter: tomllib has already said
    the text is valid, so nothing here needs to be checked.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.lines: dict[KeyPath, int] = {}
        self._arrays: dict[KeyPath, int] = {}  # array of tables -> how many items so far
        self._newlines = [i for i, c in enumerate(text) if c == "\n"]

    def scan(self) -> dict[KeyPath, int]:
        table: KeyPath = ()
        while self._skip(newlines=True):
            before = self.pos
            if self._peek() == "[":
                table = self._header()
            else:
                self._key_value(table)
            if self.pos == before:  # cannot happen in valid TOML; never loop on it
                break
        return self.lines

    def _line(self) -> int:
        return bisect.bisect_left(self._newlines, self.pos) + 1

    def _peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def _note(self, path: KeyPath, line: int) -> None:
        # Prefixes too: a table made only by `[a.b]` or `a.b = 1` is found at that line.
        for n in range(1, len(path) + 1):
            self.lines.setdefault(path[:n], line)

    def _skip(self, newlines: bool) -> bool:
        """Skip blanks and comments (and newlines if allowed); False at the end of the text."""
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c in " \t" or (newlines and c in "\r\n"):
                self.pos += 1
            elif c == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            else:
                return True
        return False

    def _header(self) -> KeyPath:
        line = self._line()
        array = self._peek(2) == "[["
        self.pos += 2 if array else 1
        keys = self._keys()
        self._skip(newlines=False)
        self.pos += 2 if array else 1
        path: KeyPath = ()
        for key in keys[:-1]:  # `[[a.b]]` and `[a.c]` belong to the last `[[a]]` so far
            path = (*path, key)
            if path in self._arrays:
                path = (*path, self._arrays[path] - 1)
        path = (*path, keys[-1])
        if array:
            index = self._arrays.get(path, 0)
            self._arrays[path] = index + 1
            path = (*path, index)
        self._note(path, line)
        return path

    def _key_value(self, table: KeyPath) -> None:
        line = self._line()
        path = (*table, *self._keys())
        self._note(path, line)
        self._skip(newlines=False)
        self.pos += 1  # "="
        self._skip(newlines=False)
        self._value(path)

    def _keys(self) -> list[str]:
        """A dotted key: bare, "basic" or 'literal' parts."""
        keys: list[str] = []
        while True:
            self._skip(newlines=False)
            c = self._peek()
            if c in "\"'":
                start = self.pos
                self._string()
                keys.append(tomllib.loads(f"k = {self.text[start : self.pos]}")["k"])
            else:
                start = self.pos
                while self.pos < len(self.text) and self.text[self.pos] in _BARE_KEY:
                    self.pos += 1
                keys.append(self.text[start : self.pos])
            self._skip(newlines=False)
            if self._peek() != ".":
                return keys
            self.pos += 1

    def _value(self, path: KeyPath) -> None:
        c = self._peek()
        if c in "\"'":
            self._string()
        elif c == "[":
            self._array(path)
        elif c == "{":
            self._inline_table(path)
        else:  # number, boolean, date and time: up to the next delimiter
            while self.pos < len(self.text) and self.text[self.pos] not in _VALUE_END:
                self.pos += 1

    def _string(self) -> None:
        quote = self._peek()
        multiline = self._peek(3) == quote * 3
        self.pos += 3 if multiline else 1
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "\\" and quote == '"':
                self.pos += 2
            elif c == quote and (not multiline or self._peek(3) == quote * 3):
                # A multi-line string may end in one or two quotes of its own: """a""""
                run = 1
                while multiline and run < 5 and self._peek(run + 1) == quote * (run + 1):
                    run += 1
                self.pos += run
                return
            else:
                self.pos += 1

    def _array(self, path: KeyPath) -> None:
        index = itertools.count()

        def item() -> None:
            item_path = (*path, next(index))
            self._note(item_path, self._line())
            self._value(item_path)

        self._items("]", item)

    def _inline_table(self, path: KeyPath) -> None:
        self._items("}", lambda: self._key_value(path))

    def _items(self, close: str, item: Callable[[], None]) -> None:
        """The comma-separated items of an array or inline table, from its opening bracket."""
        self.pos += 1
        while self._skip(newlines=True) and self._peek() != close:
            before = self.pos
            item()
            self._skip(newlines=True)
            if self._peek() == ",":
                self.pos += 1
            if self.pos == before:  # cannot happen in valid TOML; never loop on it
                return
        self.pos += 1
