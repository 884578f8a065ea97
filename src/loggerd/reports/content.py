"""A run's report as plain data: what every format (JSON, HTML, PDF) states, computed once.

The JSON format is this document itself; HTML and PDF lay it out with the plots beside it.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from loggerd import __version__
from loggerd.chamber.assessment import RampResult, RunAssessment, SoakResult, assess
from loggerd.chamber.decision import Rule
from loggerd.chamber.statistics import Family
from loggerd.core.times import iso, utc_now_us
from loggerd.reports.data import RunData

UNITS = {"temperature_c": "°C", "rh_pct": "%RH", "frost_point_c": "°C", "ppmv": "ppmv"}
RULES = {
    "guarded": "ILAC-G8:09/2019 guarded acceptance, guard band w = U (k = 2): pass only when "
    "within the limit by at least U; conditional pass/fail within U of a limit",
    "simple": "ILAC-G8:09/2019 simple acceptance (w = 0): pass when within the limit",
}
FAMILIES = {
    "iec_60068_3": "IEC 60068-3-5 / -3-6 (time means per measuring point)",
    "gb_t_5170": "GB/T 5170.2 / .5 (extremes against the set value)",
    "jjf_1101": "JJF 1101-2019 (GB/T 5170 figures and uniformity)",
}


def build(data: RunData, family: Family, rule: Rule) -> dict[str, Any]:
    run = data.run
    assessment = assess(run.profile, data.quantities(), family=family, rule=rule)
    return {
        "report": {
            "generated": iso(utc_now_us()),
            "loggerd_version": __version__,
            "data_sha256": data.sha256,
            "data_sha256_rule": "SHA-256 of, per channel in id order, one line "
            "`channel_id,timestamp_us,value` per counted sample in time order (value as "
            "Python's repr of the float), UTF-8",
            "family": family,
            "family_basis": FAMILIES[family],
            "decision_rule": rule,
            "decision_rule_basis": RULES[rule],
        },
        "run": {
            "id": run.id,
            "chamber_id": run.chamber_id,
            "chamber_name": data.chamber_name,
            "test_id": run.test_id,
            "unit_under_test": run.unit_under_test,
            "operator": run.operator,
            "start": iso(run.start_us),
            "end": None if run.end_us is None else iso(run.end_us),
            "open": run.open,
            "evaluated_until": iso(data.end_us),
            "notes": run.notes,
            "profile": run.profile.to_dict(),
        },
        "verdict": assessment.verdict,
        "segments": _segments(assessment),
        "completeness": [_completeness(c) for c in data.channels],
        "calibration": [
            {
                "channel_id": c.meta.channel_id,
                **(
                    asdict(c.calibration)
                    if c.calibration is not None
                    else {"certificate_id": None, "version": None, "due": None, "past_due": None}
                ),
            }
            for c in data.channels
        ],
        "alarms": [
            {
                "id": a.id,
                "kind": str(a.key.kind),
                "subject": a.key.subject,
                "severity": str(a.severity),
                "raised": iso(a.raised_us),
                "cleared": None if a.cleared_us is None else iso(a.cleared_us),
                "acknowledged_by": a.acked_by,
                "comment": a.ack_comment,
                "message": a.message,
            }
            for a in data.alarms
        ],
        "events": [
            {
                "time": iso(e.utc_us),
                "device_id": e.device_id,
                "kind": str(e.kind),
                "severity": str(e.severity),
                "message": e.message,
            }
            for e in data.events
        ],
        "records_lost": [
            {
                "device_id": g.device_id,
                "first_sequence": g.first_sequence,
                "last_sequence": g.last_sequence,
                "from": None if g.start_us is None else iso(g.start_us),
                "to": None if g.end_us is None else iso(g.end_us),
            }
            for g in data.gaps
        ],
    }


def _num(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, digits)


def _segments(a: RunAssessment) -> list[dict[str, Any]]:
    out = []
    for seg in a.segments:
        results = []
        for r in seg.results:
            if isinstance(r, SoakResult):
                results.append(_soak(r))
            else:
                results.append(_ramp(r))
        out.append(
            {
                "index": seg.index + 1,
                "kind": seg.kind,
                "name": seg.name,
                "start_h": seg.start_s / 3600,
                "end_h": seg.end_s / 3600,
                "verdict": seg.verdict,
                "results": results,
            }
        )
    return out


def _soak(r: SoakResult) -> dict[str, Any]:
    s = r.statistics
    st = r.stabilisation
    return {
        "quantity": r.quantity,
        "unit": UNITS[r.quantity],
        "setpoint": r.setpoint,
        "tolerance": r.tolerance,
        "verdict": r.verdict,
        "stabilisation": {
            "reached_after_s": st.time_s,
            "rule": f"every point within ±{r.tolerance} {UNITS[r.quantity]} and its "
            f"least-squares slope over the trailing {st.trailing_s / 60:g} min at most "
            f"{st.slope_limit_per_h} {UNITS[r.quantity]}/h",
        },
        "window": {
            "readings": r.readings_scheduled,
            "interval_s": r.schedule.interval_s,
            "basis": r.schedule.basis,
        },
        "statistics": None
        if s is None
        else {k: (_num(v) if isinstance(v, float) else v) for k, v in s.to_dict().items()},
        "uncertainty": None
        if r.uncertainty is None
        else {k: _num(v, 5) for k, v in asdict(r.uncertainty).items()},
        "decisions": {
            name: {
                "value": _num(d.value),
                "low": d.low,
                "high": d.high,
                "U": _num(d.expanded_uncertainty, 5),
                "verdict": d.verdict,
            }
            for name, d in r.decisions.items()
        },
    }


def _ramp(r: RampResult) -> dict[str, Any]:
    rate = r.rate
    return {
        "quantity": r.quantity,
        "unit": UNITS[r.quantity],
        "from": r.start,
        "setpoint": r.setpoint,
        "tolerance": r.tolerance,
        "verdict": r.verdict,
        "required_rate_per_min": _num(r.required_rate_per_min),
        "span_rate_per_min": _num(rate.span_rate_per_min),
        "max_rate_per_min": _num(rate.max_rate_per_min),
        "mean_rate_per_min": _num(rate.mean_rate_per_min),
        "rate_windows": rate.windows,
        "rate_rule": f"least-squares slope over {rate.window_s / 60:g}-min windows within the "
        "10-90 % span of the change, centre point",
        "tracking_error_max": _num(r.tracking_error_max),
        "tracking_rule": "largest |centre point - the profile's setpoint line| during the ramp",
    }


def _completeness(c: Any) -> dict[str, Any]:
    good = len(c.times_us)
    return {
        "channel_id": c.meta.channel_id,
        "quantity": c.meta.quantity,
        "unit": c.meta.unit,
        "interval_s": _num(c.interval_s, 3),
        "expected": c.expected,
        "stored": c.stored,
        "counted": good,
        "by_quality": c.by_quality,
        "completeness_pct": None if not c.expected else _num(100 * good / c.expected, 2),
        "gaps": [{"from": iso(a), "to": iso(b), "s": (b - a) / 1e6} for a, b in c.gaps],
    }
