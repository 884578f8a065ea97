"""The report as a PDF, laid out by ReportLab's platypus (paragraphs, tables, the matplotlib
plots as images): a maintained renderer, not hand-drawn pages."""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from loggerd.core.profiles import Quantity

_STYLES = getSampleStyleSheet()
_GRID = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
        ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
)
FIGURES = (
    "deviation",
    "deviation_max",
    "deviation_min",
    "fluctuation",
    "gradient",
    "variation_in_space",
    "uniformity",
)


def _p(text: Any, style: str = "BodyText") -> Paragraph:
    return Paragraph(escape("" if text is None else str(text)), _STYLES[style])


def _table(rows: list[list[Any]], widths: list[float] | None = None) -> Table:
    cells = [[c if isinstance(c, Paragraph) else _p(c, "BodyText") for c in row] for row in rows]
    t = Table(cells, colWidths=widths, repeatRows=1)
    t.setStyle(_GRID)
    return t


def render_pdf(document: dict[str, Any], plots: dict[Quantity, bytes]) -> bytes:
    run, report = document["run"], document["report"]
    story: list[Any] = [
        _p(f"Chamber test report: run {run['id']}", "Title"),
        _p(f"Verdict: {document['verdict']}", "Heading2"),
        _table(
            [
                ["Run", str(run["id"])],
                ["Chamber", f"{run['chamber_id']} {run['chamber_name'] or ''}"],
                ["Test", run["test_id"]],
                ["Unit under test", run["unit_under_test"]],
                ["Operator", run["operator"]],
                ["Span (UTC)", f"{run['start']} to {run['end'] or 'open'}"],
                ["Statistics", report["family_basis"]],
                ["Decision rule", report["decision_rule_basis"]],
                ["Notes", run["notes"]],
            ],
            [40 * mm, 130 * mm],
        ),
        Spacer(1, 4 * mm),
    ]
    for png in plots.values():
        story.append(Image(io.BytesIO(png), width=175 * mm, height=175 * mm * 4.2 / 10))
    story.append(_p("Segments", "Heading2"))
    for seg in document["segments"]:
        story.append(
            _p(
                f"{seg['index']}. {seg['kind']} {seg['name']} "
                f"({seg['start_h']:.2f} h to {seg['end_h']:.2f} h): {seg['verdict']}",
                "Heading3",
            )
        )
        for r in seg["results"]:
            story.extend(_soak(r) if seg["kind"] == "soak" else _ramp(r))
    story.append(_p("Data completeness", "Heading2"))
    rows = [["Channel", "Every s", "Expected", "Stored", "Used", "%", "By quality", "Gaps"]]
    for c in document["completeness"]:
        quality = ", ".join(f"{q} {n}" for q, n in c["by_quality"].items())
        gaps = "; ".join(f"{g['from']} ({g['s']:.0f} s)" for g in c["gaps"]) or "none"
        rows.append(
            [c["channel_id"], c["interval_s"], c["expected"], c["stored"], c["counted"],
             c["completeness_pct"], quality, gaps]
        )  # fmt: skip
    story.append(_table(rows, [w * mm for w in (16, 15, 17, 15, 16, 14, 33, 44)]))
    story.append(_p("Calibration", "Heading2"))
    rows = [["Channel", "Certificate", "Version", "Due", "Status"]]
    for c in document["calibration"]:
        status = "unknown" if c["past_due"] is None else "past due" if c["past_due"] else "in date"
        rows.append([c["channel_id"], c["certificate_id"] or "none known here", c["version"],
                     c["due"], status])  # fmt: skip
    story.append(_table(rows))
    story.append(_p("Alarms and events", "Heading2"))
    if document["alarms"]:
        rows = [["Raised (UTC)", "Cleared", "Kind", "Subject", "Message", "Acknowledged"]]
        rows += [
            [a["raised"], a["cleared"] or "active", a["kind"], a["subject"], a["message"],
             f"{a['acknowledged_by']}: {a['comment']}" if a["acknowledged_by"] else ""]
            for a in document["alarms"]
        ]  # fmt: skip
        story.append(_table(rows, [30 * mm, 30 * mm, 20 * mm, 18 * mm, 45 * mm, 27 * mm]))
    else:
        story.append(_p("No alarms during the run."))
    if document["events"]:
        rows = [["Time (UTC)", "Device", "Kind", "Severity", "Message"]]
        rows += [[e["time"], e["device_id"], e["kind"], e["severity"], e["message"]]
                 for e in document["events"]]  # fmt: skip
        story.append(_table(rows, [35 * mm, 22 * mm, 25 * mm, 17 * mm, 71 * mm]))
    else:
        story.append(_p("No events during the run."))
    story.append(_p("Data fingerprint", "Heading2"))
    story.append(_p(f"SHA-256 {report['data_sha256']}: {report['data_sha256_rule']}."))
    story.append(_p(f"Generated {report['generated']} by loggerd {report['loggerd_version']}."))
    out = io.BytesIO()
    title = f"Run {run['id']} {run['test_id']}"
    SimpleDocTemplate(out, pagesize=A4, title=title, author="loggerd").build(story)
    return out.getvalue()


def _soak(r: dict[str, Any]) -> list[Any]:
    st = r["stabilisation"]
    stable = (
        "never stable"
        if st["reached_after_s"] is None
        else f"stable at {st['reached_after_s'] / 60:.1f} min from the run's start"
    )
    out: list[Any] = [
        _p(
            f"{r['quantity']} at {r['setpoint']} ± {r['tolerance']} {r['unit']}: {stable} "
            f"({st['rule']}); window {r['window']['readings']} readings "
            f"{r['window']['interval_s']:.0f} s apart ({r['window']['basis']})."
        )
    ]
    s = r["statistics"]
    if s is None:
        return out
    rows = [["Figure", f"Value ({r['unit']})", "Limit", "U (k=2)", "Verdict"]]
    for name in FIGURES:
        if s.get(name) is None:
            continue
        d = r["decisions"].get(name)
        if d is None:
            rows.append([name, s[name], "", "", "reported"])
        else:
            low = "" if d["low"] is None else d["low"]
            high = "" if d["high"] is None else d["high"]
            limit = f"{low} .. {high}"
            rows.append([name, s[name], limit, d["U"], d["verdict"]])
    out.append(_table(rows))
    u = r["uncertainty"]
    out.append(
        _p(
            f"Samples used {s['samples_used']}, missing {s['samples_missing']}. Uncertainty of "
            f"the condition (IEC 60068-3-11): U = {u['condition_u']} {r['unit']} (standard: "
            f"calibration {u['calibration']}, resolution {u['resolution']}, spatial "
            f"{u['spatial']}, temporal {u['temporal']})."
        )
    )
    return out


def _ramp(r: dict[str, Any]) -> list[Any]:
    return [
        _p(
            f"{r['quantity']} from {r['from']} to {r['setpoint']} {r['unit']}: required "
            f"{r['required_rate_per_min']} {r['unit']}/min; achieved over the 10-90 % span "
            f"{r['span_rate_per_min']}, steepest {r['max_rate_per_min']}, mean "
            f"{r['mean_rate_per_min']} {r['unit']}/min ({r['rate_rule']}); largest distance "
            f"from the setpoint line {r['tracking_error_max']} {r['unit']} against "
            f"± {r['tolerance']}: {r['verdict']}."
        )
    ]
