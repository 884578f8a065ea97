"""Where profiles come from: a built-in profile by name, a profile file by path, or TOML text.
Every problem is reported with the file and line of the row and key it concerns."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path

from .profile_document import ProfileDocument, ProfileError
from .profile_model import Profile
from .profile_resolver import build_profile
from .toml_document import TomlDocument, TomlDocumentError

PROFILES_PACKAGE = "loggerd_protocol"
_PROFILES_DIR = "profiles"


def builtin_profile_names() -> tuple[str, ...]:
    folder = resources.files(PROFILES_PACKAGE).joinpath(_PROFILES_DIR)
    return tuple(
        sorted(e.name.removesuffix(".toml") for e in folder.iterdir() if e.name.endswith(".toml"))
    )


@cache
def builtin_profile(name: str) -> Profile:
    """A profile shipped with loggerd (loggerd_protocol/profiles/<name>.toml)."""
    entry = resources.files(PROFILES_PACKAGE).joinpath(_PROFILES_DIR, f"{name}.toml")
    if not re.match(r"^[A-Za-z0-9_\-]+$", name) or not entry.is_file():
        raise ProfileError(
            f"no built-in profile {name!r}; built-in profiles: "
            f"{', '.join(builtin_profile_names())} (or give a path to a profile file)"
        )
    return parse_profile(entry.read_text("utf-8"), f"{name}.toml (built-in profile)")


def load_profile(path: str | Path) -> Profile:
    return _profile(lambda: TomlDocument.read(path, what="the profile"))


def resolve_profile(name_or_path: str) -> Profile:
    """A built-in profile by name ("vaisala_hmt330"), or a profile file by path."""
    looks_like_path = any(c in name_or_path for c in "/\\") or name_or_path.endswith(".toml")
    if looks_like_path:
        return load_profile(name_or_path)
    return builtin_profile(name_or_path)


def parse_profile(text: str, origin: str = "<profile>") -> Profile:
    """Parse and validate a profile. Every problem found is reported, each with file and line."""
    return _profile(lambda: TomlDocument.parse(text, origin))


def _profile(document: Callable[[], TomlDocument]) -> Profile:
    try:
        where = document()
        rows = where.validate(ProfileDocument)
    except TomlDocumentError as exc:
        raise ProfileError(exc.problems) from None
    return build_profile(rows, where)
