"""A download's pace: how fast a logger's memory is read against how fast the logger records,
in its health, and its progress in the log."""

from __future__ import annotations

import logging

from loggerd.core.health import BackfillHealth

log = logging.getLogger("loggerd.acquisition.follower")  # the follower's lines, as before

# A download's pace (records read, and records the logger took, per second) is measured over
# spans of this long at least: shorter ones say more about one slow read than about the line.
PACE_SPAN_S = 10.0


def follow_pace(
    name: str,
    h: BackfillHealth,
    newest: int,
    since: tuple[float, int, int],
    now: float,
) -> tuple[float, int, int]:
    """Follow the logger's newest record with the download's end, and measure, over spans
    of PACE_SPAN_S, how fast records are read and how fast the logger takes them. A
    download that reads no faster than the logger records never ends: `behind`, said
    once in the log with what to do, and in health (with both rates) until it gains.
    `since` is (when, records downloaded, the logger's newest record) at the span's start;
    the start of the next span is returned."""
    h.download_to = max(h.download_to or newest, newest)
    at, downloaded, newest_then = since
    span_s = now - at
    if span_s < PACE_SPAN_S:
        return since
    h.read_rate_per_s = (h.records_downloaded - downloaded) / span_s
    h.record_rate_per_s = (newest - newest_then) / span_s
    gain = h.read_rate_per_s - h.record_rate_per_s
    h.eta_s = (newest - (h.cursor or 0)) / gain if gain > 0 else None
    if gain <= 0 and h.state == "downloading":
        h.state = "behind"
        log.warning(
            "%s: the logger records %.2f records/s and its memory is read at %.2f/s: the "
            "download (record %s of %s..%s) cannot catch up. Give it more of each tick "
            "(backfill_duty), poll less often, or let the logger record less often",
            name,
            h.record_rate_per_s,
            h.read_rate_per_s,
            h.cursor,
            h.download_from,
            h.download_to,
        )
    elif gain > 0 and h.state == "behind":
        h.state = "downloading"
        log.info("%s: the download gains on the logger again", name)
    return (now, h.records_downloaded, newest)


def log_progress(name: str, h: BackfillHealth) -> None:
    """Log how far a download has come."""
    p = h.progress
    if p is not None:
        pace = ""
        if h.read_rate_per_s is not None and h.record_rate_per_s is not None:
            pace = (
                f", reading {h.read_rate_per_s:.2f} records/s while the logger records "
                f"{h.record_rate_per_s:.2f}/s"
            )
            if h.eta_s is not None:
                pace += f", done in about {h.eta_s:.0f} s"
        log.info(
            "%s: download %.0f %% (record %s of %s..%s%s)",
            name,
            100 * p,
            h.cursor,
            h.download_from,
            h.download_to,
            pace,
        )
