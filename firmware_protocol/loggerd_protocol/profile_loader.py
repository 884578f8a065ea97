"""Where profiles come from: a built-in profile by name, a profile file by path, or TOML text.
Every problem is reported with the file and line of the row and key it concerns.

Built-in profiles are the files in profiles/ and the profiles generated from a protocol
definition this package holds (the reference logger's, from reference_logger.toml)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path

from .definition import reference_logger
from .profile_document import ProfileDocument, ProfileError
from .profile_model import Profile
from .profile_resolver import build_profile
from .reference_profile import reference_profile_document
from .toml_document import TomlDocument, TomlDocumentError

PROFILES_PACKAGE = "loggerd_protocol"
_PROFILES_DIR = "profiles"
# Built-in profiles made from a definition, never kept as a second copy of its register map.
_GENERATED: dict[str, tuple[str, Callable[[], ProfileDocument]]] = {
    "reference_logger": (
        "reference_logger.toml",
        lambda: reference_profile_document(reference_logger()),
    ),
}


def builtin_profile_names() -> tuple[str, ...]:
    folder = resources.files(PROFILES_PACKAGE).joinpath(_PROFILES_DIR)
    files = {e.name.removesuffix(".toml") for e in folder.iterdir() if e.name.endswith(".toml")}
    return tuple(sorted(files | set(_GENERATED)))


@cache
def builtin_profile(name: str) -> Profile:
    """A profile shipped with loggerd: generated from a definition, or
    loggerd_protocol/profiles/<name>.toml."""
    if name in _GENERATED:
        definition, generate = _GENERATED[name]
        document = generate()
        origin = f"{name} (built-in profile, generated from {definition})"
        return build_profile(document, TomlDocument(origin, document.model_dump()))
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
