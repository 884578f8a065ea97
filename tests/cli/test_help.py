"""`loggerd --help` lists every command, and every option of every command says what it is,
in one line of the parser's help."""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Iterator

from loggerd.cli.main import build_parser
from tests.cli.test_cli import loggerd


def subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """A parser's subcommands: name -> (its parser, the help the parent lists it with)."""
    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                out[name] = (sub, helps.get(name, ""))
    return out


def every_parser(
    parser: argparse.ArgumentParser, path: str = "loggerd"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for name, (sub, _) in subcommands(parser).items():
        yield from every_parser(sub, f"{path} {name}")


def test_the_top_level_help_lists_every_command() -> None:
    result = subprocess.run(loggerd("--help"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    commands = subcommands(build_parser())
    assert {"demo", "run", "api", "sim", "config", "drivers", "db", "calibration"} < set(commands)
    assert {"export", "backfill", "clock"} < set(commands)
    listed = {
        line.split()[0]
        for line in result.stdout.splitlines()
        if line.startswith("    ") and line.split()[0] in commands
    }
    assert listed == set(commands)
    for name, (_, help_text) in commands.items():
        assert help_text, f"`loggerd {name}` is listed without a help text"


def test_every_option_and_command_has_a_help_text_of_one_line() -> None:
    missing = []
    for path, parser in every_parser(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._VersionAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    if not choice.help:
                        missing.append(f"{path} {choice.dest}")
                    assert "\n" not in (choice.help or "")
                continue
            name = "/".join(action.option_strings) or action.dest
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {name}")
            assert "\n" not in (action.help or ""), f"{path} {name}"
    assert missing == []
