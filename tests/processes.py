"""Processes seen through /proc: a process's children, and whether one has ended."""

from __future__ import annotations

from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ")"
    return text[text.rindex(")") + 2 :].split()


def children(pid: int, containing: str = "") -> list[int]:
    """Living children of `pid` whose command line contains `containing`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is None or int(stat[1]) != pid or stat[0] == "Z":
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if containing in cmdline:
            found.append(int(entry.name))
    return found


def ended(pid: int) -> bool:
    """Gone, or a zombie waiting for its parent to reap it."""
    stat = _stat(pid)
    return stat is None or stat[0] == "Z"
