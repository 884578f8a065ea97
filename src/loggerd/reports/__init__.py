"""A chamber test run's report: gathered from the store, judged by the chosen standard, laid
out as JSON, HTML or PDF."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Literal

from loggerd.chamber.decision import Rule
from loggerd.chamber.statistics import Family
from loggerd.reports.data import Calibration, RunData, gather
from loggerd.storage.store import Store

ReportFormat = Literal["pdf", "html", "json"]
MEDIA_TYPES: dict[ReportFormat, str] = {
    "pdf": "application/pdf",
    "html": "text/html; charset=utf-8",
    "json": "application/json",
}

__all__ = ["MEDIA_TYPES", "Calibration", "ReportFormat", "RunData", "gather", "render", "report"]


def render(data: RunData, fmt: ReportFormat, family: Family, rule: Rule) -> bytes:
    from loggerd.reports.content import build

    document = build(data, family, rule)
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")
    from loggerd.reports.plots import quantity_plots

    plots = quantity_plots(data)
    if fmt == "html":
        from loggerd.reports.html import render_html

        return render_html(document, plots)
    from loggerd.reports.pdf import render_pdf

    return render_pdf(document, plots)


def report(
    store: Store,
    run_id: int,
    fmt: ReportFormat,
    family: Family = "gb_t_5170",
    rule: Rule = "guarded",
    calibrations: Mapping[str, Calibration | None] | None = None,
) -> bytes:
    """Run `run_id`'s report in `fmt`, from the store."""
    return render(gather(store, run_id, calibrations), fmt, family, rule)
