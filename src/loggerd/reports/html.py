"""The report as one self-contained HTML file (plots inlined), laid out by a Jinja2 template
(report.html.j2, beside this module) with autoescaping: every text that came from a person
(test id, operator, notes, a device's message) is escaped."""

from __future__ import annotations

import base64
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from loggerd.core.profiles import Quantity

_ENV = Environment(
    loader=PackageLoader("loggerd.reports", "."),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def verdict_class(verdict: str) -> str:
    return verdict.split()[0] if verdict.startswith("conditional") else verdict


_ENV.globals["verdict_class"] = verdict_class
_COMPILED = _ENV.get_template("report.html.j2")


def render_html(document: dict[str, Any], plots: dict[Quantity, bytes]) -> bytes:
    pngs = [(q, base64.b64encode(png).decode("ascii")) for q, png in plots.items()]
    return _COMPILED.render(**document, plots=pngs).encode("utf-8")
