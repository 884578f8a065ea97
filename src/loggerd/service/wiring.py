"""The composition root's translations: the validated configuration into each layer's own specs
(drivers on a shared line pool, the channel catalog, the chambers' processors). The layers
below never read the configuration models themselves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from loggerd.acquisition.acquisition import DeviceSpec
from loggerd.acquisition.ledger import ClockPolicy
from loggerd.acquisition.poller import ChannelBinding, PollPolicy
from loggerd.core.channels import Channel
from loggerd.drivers.registry import load_driver
from loggerd.link.lines import LinePool
from loggerd.processing.calibration import Certificate, load_certificate
from loggerd.processing.pipeline import UNIT_OF, Calibration, ChamberProcessor, DerivedSpec
from loggerd.service.config import ChamberConfig, driver_settings

# The device id under which a chamber's derived channels are catalogued: loggerd computes them.
DERIVED_DEVICE = "derived"


def device_specs(chambers: Sequence[ChamberConfig], lines: LinePool) -> list[DeviceSpec]:
    """Every configured device with its driver built on `lines` (nothing is opened yet)."""
    specs = []
    for chamber in chambers:
        for device in chamber.devices:
            settings = driver_settings(device)
            specs.append(
                DeviceSpec(
                    chamber.id,
                    device.id,
                    load_driver(device.driver)(settings, lines),
                    tuple(ChannelBinding(ch.id, ch.point) for ch in device.channels),
                    device.poll_interval_s,
                    PollPolicy(
                        retries=device.retries,
                        quarantine_after=device.quarantine_after,
                        backoff_initial_s=device.backoff_initial_s,
                        backoff_max_s=device.backoff_max_s,
                    ),
                    history_from_memory=device.history == "memory",
                    clock=ClockPolicy(
                        device.clock_offset_limit_s,
                        device.clock_drift_limit_ppm,
                        device.clock_check_interval_s,
                    ),
                    backfill_duty=device.backfill_duty,
                )
            )
    return specs


def channels(chambers: Sequence[ChamberConfig], devices: Sequence[DeviceSpec]) -> list[Channel]:
    """Every channel: each device's, with the quantity and unit its driver's point gives
    unless the configuration says otherwise, then each chamber's derived ones."""
    drivers = {(d.chamber_id, d.device_id): d.driver for d in devices}
    out = []
    for chamber in chambers:
        for device in chamber.devices:
            points = {p.name: p for p in drivers[(chamber.id, device.id)].points()}
            for ch in device.channels:
                p = points[ch.point]
                out.append(
                    Channel(
                        chamber.id,
                        ch.id,
                        device.id,
                        ch.point,
                        ch.quantity or p.quantity,
                        ch.unit or p.unit,
                        ch.name or ch.id,
                    )
                )
    for chamber in chambers:
        for d in chamber.derived:
            out.append(
                Channel(
                    chamber.id,
                    d.id,
                    DERIVED_DEVICE,
                    d.quantity,
                    d.quantity,
                    UNIT_OF[d.quantity],
                    d.name or d.id,
                )
            )
    return out


def build_processors(
    chambers: Sequence[ChamberConfig], copies: int = 1
) -> list[dict[str, ChamberProcessor]]:
    """`copies` sets of processors, one per chamber in each, with every certificate loaded
    once: a processor remembers the latest inputs of its chamber, so live reads and records
    from loggers' memories each need their own (see processing.Processing)."""
    certificates = {
        ch.certificate: load_certificate(ch.certificate)
        for chamber in chambers
        for dev in chamber.devices
        for ch in dev.channels
        if ch.certificate is not None
    }
    return [
        {chamber.id: _processor(chamber, certificates) for chamber in chambers}
        for _ in range(copies)
    ]


def _processor(
    chamber: ChamberConfig, certificates: Mapping[Path, Certificate]
) -> ChamberProcessor:
    calibrations = {
        ch.id: Calibration(certificates[ch.certificate], ch.probe_temperature_channel)
        for dev in chamber.devices
        for ch in dev.channels
        if ch.certificate is not None
    }
    derived = [
        DerivedSpec(
            channel_id=d.id,
            quantity=d.quantity,
            temperature_channel=d.temperature,
            rh_channel=d.rh,
            formulation=d.formulation,
            pressure_channel=d.pressure,
            pressure_hpa=d.pressure_hpa,
            max_input_age_s=d.max_input_age_s,
            u_temperature_k=d.u_temperature_k,
            u_rh_pct=d.u_rh_pct,
            check_channel=d.check,
            check_limit=d.check_limit,
        )
        for d in chamber.derived
    ]
    return ChamberProcessor(chamber.id, calibrations, derived)
