"""`loggerd calibration apply`: correct a channel's stored history again with a certificate."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from loggerd.cli.common import flag_time_us
from loggerd.core.errors import ConfigError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "calibration", help="correct stored history with a certificate (calibration apply)"
    )
    calsub = p.add_subparsers(dest="calibration_command", required=True)
    c = calsub.add_parser(
        "apply",
        help="correct a channel's stored history again with a (new) certificate",
    )
    c.add_argument("--config", type=Path, required=True, help="the daemon's configuration")
    c.add_argument("--chamber", required=True, help="the chamber's id")
    c.add_argument("--channel", required=True, help="the channel's id")
    c.add_argument("--certificate", type=Path, required=True, help="the certificate TOML")
    c.add_argument("--start", help="ISO 8601, UTC when no offset (default: the beginning)")
    c.add_argument("--end", help="ISO 8601, UTC when no offset (default: now)")
    c.set_defaults(run=_calibration_apply)


def _calibration_apply(args: argparse.Namespace) -> int:
    from loggerd.core.times import utc_now_us
    from loggerd.processing.calibration import CertificateError, correct, load_certificate
    from loggerd.service.config import load_config
    from loggerd.service.stores import open_store

    config = load_config(args.config)
    try:
        cert = load_certificate(args.certificate)
    except CertificateError as exc:
        raise ConfigError(str(exc)) from None
    chamber = next((c for c in config.chambers if c.id == args.chamber), None)
    if chamber is None:
        raise ConfigError(f"{args.config}: no chamber {args.chamber!r}")
    channel = next(
        (ch for d in chamber.devices for ch in d.channels if ch.id == args.channel), None
    )
    if channel is None:
        raise ConfigError(
            f"{args.config}: chamber {args.chamber!r} has no channel {args.channel!r}"
        )
    probe = channel.probe_temperature_channel
    if cert.rows is not None and probe is None:
        raise ConfigError(
            f"certificate {cert.id!r} is a table in (RH, temperature): set "
            f"probe_temperature_channel of channel {args.channel!r} in {args.config}"
        )
    start_us = flag_time_us("--start", args.start) if args.start else 0
    end_us = flag_time_us("--end", args.end) if args.end else utc_now_us() + 1

    def recorrect(raw: Any, probe_c: Any) -> Any:
        c = correct(cert, raw, probe_c if cert.rows is not None else None)
        return c.corrected, c.expanded_uncertainty, c.out_of_range, cert.version

    store = open_store(config)
    try:
        store.check_schema()
        n = store.recorrect(args.chamber, args.channel, recorrect, start_us, end_us, probe)
    finally:
        store.close()
    print(
        f"{args.chamber}/{args.channel}: {n} samples corrected again with certificate "
        f"{cert.id} version {cert.version}; raw values unchanged, rollups rebuilt"
    )
    if channel.certificate is None or channel.certificate.resolve() != args.certificate.resolve():
        print(
            f"note: {args.config} still names {channel.certificate or 'no certificate'} for "
            "this channel; point it at the new certificate for new samples"
        )
    return 0
