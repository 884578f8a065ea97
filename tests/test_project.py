"""What a new user copies and reads: the README's examples work as written, and the project
stands on its own (its licence file, its ignore list, no reference to notes it does not ship)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text("utf-8")


def test_the_readme_lab_example_passes_config_check_as_copied(tmp_path: Path) -> None:
    """The README's "A real lab" block, saved in a folder with the certificates deploy/ ships
    (where its relative certificate path points), is a configuration `config check` accepts."""
    block = README.split("## A real lab", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    shutil.copytree(ROOT / "deploy" / "certificates", tmp_path / "certificates")
    config = tmp_path / "lab.toml"
    config.write_text(block, "utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "loggerd", "config", "check", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "OK (1 chambers, 1 devices, 2 channels)" in result.stdout
    # The shipped file the README abridges says the same things.
    shipped = tomllib.loads((ROOT / "deploy" / "reference-logger-rtu.toml").read_text("utf-8"))
    channels = {c["id"]: c for c in shipped["chamber"][0]["device"][0]["channel"]}
    assert channels["t1"]["certificate"] == "certificates/example-pt100.toml"
    assert [d["id"] for d in shipped["chamber"][0]["derived"]] == ["frost_point_calc"]


def test_the_licence_file_is_the_one_pyproject_names() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["license"]
    assert declared == {"text": "Apache-2.0"}
    text = (ROOT / "LICENSE").read_text("utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_the_demo_folder_is_ignored() -> None:
    ignored = (ROOT / ".gitignore").read_text("utf-8").split()
    assert "loggerd-demo/" in ignored and "loggerd-data/" in ignored


def test_nothing_refers_to_notes_the_project_does_not_ship() -> None:
    """Reasons are stated where they are used, not in a file outside the repository."""
    tracked = subprocess.run(
        ["git", "ls-files"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.split()
    outside = re.compile(r"FIELD[-_ ]NOTES", re.IGNORECASE)
    offenders = [
        path
        for path in tracked
        if path.endswith((".py", ".toml", ".md", ".cfg", ".txt"))
        and path != "tests/test_project.py"
        and outside.search((ROOT / path).read_text("utf-8", errors="replace"))
    ]
    assert offenders == []


def test_the_wheel_holds_every_module_and_data_file(tmp_path: Path) -> None:
    """`pip install .` (the README's first command) installs a wheel, not the checkout: every
    module and data file the checkout has must be in it (a subpackage once was not)."""
    import zipfile

    # From the files git tracks only, as a clean checkout has them: a build/ folder left by an
    # earlier build would hide a package the configuration leaves out.
    tracked = subprocess.run(
        ["git", "ls-files"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.split()
    checkout = tmp_path / "checkout"
    for path in tracked:
        if (ROOT / path).is_file():
            (checkout / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / path, checkout / path)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), checkout],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("loggerd-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    roots = ("src/", "firmware_protocol/", "drivers/", "sim/")
    wanted = {
        path.split("/", 1)[1]
        for path in tracked
        if path.startswith(roots)
        and "/loggerd" in path
        and path.endswith((".py", ".toml", ".mako", "py.typed"))
        and "/testcases/" not in path
    }
    assert wanted - shipped == set()
