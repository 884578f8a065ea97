"""`loggerd runs` as a lab uses it: a profile file, a run opened, listed and closed, and the
mistakes refused in one line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from loggerd.core.channels import Channel
from loggerd.storage.store import Store, sqlite_url
from tests.cli.test_cli import loggerd
from tests.cli.test_cli_errors import fails

PROFILE_TOML = """\
[[segments]]
kind = "soak"
duration_s = 600
temperature_c = { setpoint = 23, tolerance = 2 }

[[segments]]
kind = "ramp"
duration_s = 5400
temperature_c = { setpoint = -70, tolerance = 3 }

[[segments]]
kind = "soak"
duration_s = 7200
name = "cold soak"
temperature_c = { setpoint = -70, tolerance = 2 }
"""


def store_url(tmp_path: Path) -> str:
    url = sqlite_url(tmp_path)
    store = Store(url)
    store.open({"c1": "Chamber 1"}, [Channel("c1", "air", "d1", "t1", "temperature", "degC")])
    store.close()
    return url


def ok(*args: str) -> str:
    result = subprocess.run(loggerd(*args), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_a_run_from_a_profile_file_opens_lists_and_closes(tmp_path: Path) -> None:
    url = store_url(tmp_path)
    profile = tmp_path / "cold-soak.toml"
    profile.write_text(PROFILE_TOML, "utf-8")
    out = ok(
        "runs", "create", "--url", url, "--chamber", "c1", "--test", "DO-160G 4.5.1",
        "--uut", "PSU-7 s/n 0031", "--operator", "j.li", "--profile", str(profile),
        "--start", "2026-12-07T08:00:00Z",
    )  # fmt: skip
    assert out.startswith("run 1: c1, 2026-12-07T08:00:00Z .. open") and "3 segments" in out
    assert "run 1: c1" in ok("runs", "list", "--url", url, "--open")
    out = ok("runs", "close", "--url", url, "1", "--end", "2026-12-07T12:00:00Z")
    assert "2026-12-07T08:00:00Z .. 2026-12-07T12:00:00Z" in out
    assert ok("runs", "list", "--url", url, "--open").strip() == "no runs"


def test_mistakes_are_one_line(tmp_path: Path) -> None:
    url = store_url(tmp_path)
    profile = tmp_path / "bad.toml"
    profile.write_text('[[segments]]\nkind = "ramp"\nduration_s = 60\n', "utf-8")
    common = ["--url", url, "--test", "T", "--uut", "U", "--operator", "O"]
    line = fails("runs", "create", *common, "--chamber", "c1", "--profile", str(profile))
    assert f"{profile}: segment 1: sets no target" in line
    profile.write_text(PROFILE_TOML, "utf-8")
    line = fails("runs", "create", *common, "--chamber", "c9", "--profile", str(profile))
    assert "no chamber 'c9'" in line and "known: c1" in line
    assert "no run 7" in fails("runs", "close", "--url", url, "7")
