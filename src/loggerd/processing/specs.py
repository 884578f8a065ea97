"""What a chamber's processing is told: each channel's certificate, each derived channel's
inputs and quantity, and how a quantity is computed from them (on floats or arrays alike)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from loggerd.processing import humidity
from loggerd.processing.calibration import Certificate

__all__ = [
    "MASK_OF",
    "UNIT_OF",
    "Calibration",
    "DerivedQuantity",
    "DerivedSpec",
    "derived_uncertainty",
    "derived_value",
]

DerivedQuantity = Literal[
    "dew_point",
    "frost_point",
    "frost_dew_point",
    "rh_over_ice",
    "ppmv",
    "mole_fraction",
    "mixing_ratio",
    "absolute_humidity",
]

UNIT_OF: dict[str, str] = {
    "dew_point": "degC",
    "frost_point": "degC",
    "frost_dew_point": "degC",
    "rh_over_ice": "%RH",
    "ppmv": "ppmv",
    "mole_fraction": "ppm",
    "mixing_ratio": "g/kg",
    "absolute_humidity": "g/m3",
}

# What valid_input_mask must check for each derived quantity.
MASK_OF: dict[str, humidity.Quantity] = {
    "dew_point": "dew_point",
    "frost_point": "frost_point",
    "frost_dew_point": "frost_dew_point",
    "rh_over_ice": "frost_point",
    "ppmv": "ppmv",
    "mole_fraction": "ppmv",
    "mixing_ratio": "ppmv",
    "absolute_humidity": "ppmv",
}


@dataclass(frozen=True)
class Calibration:
    """A channel's certificate; `probe_temperature_channel` feeds a 2-D RH table."""

    certificate: Certificate
    probe_temperature_channel: str | None = None


@dataclass(frozen=True)
class DerivedSpec:
    channel_id: str
    quantity: DerivedQuantity
    temperature_channel: str
    rh_channel: str
    formulation: humidity.Formulation = humidity.Formulation.HARDY1998
    pressure_channel: str | None = None
    pressure_hpa: float = 1013.25
    max_input_age_s: float = 10.0
    # Expanded (k = 2) input uncertainties used when a channel carries no certificate.
    u_temperature_k: float | None = None
    u_rh_pct: float | None = None
    # The device's own value of the same quantity, to be cross-checked against ours.
    check_channel: str | None = None
    check_limit: float = 1.0

    @property
    def unit(self) -> str:
        return UNIT_OF[self.quantity]


def derived_value(
    spec: DerivedSpec,
    t: humidity.FloatArray,
    rh: humidity.FloatArray,
    p: humidity.FloatArray,
) -> humidity.FloatArray:
    """The spec's quantity from temperature, RH and pressure arrays (inputs the mask of
    MASK_OF[quantity] admits); one implementation for a poll and a download's batch alike."""
    f = spec.formulation
    q = spec.quantity
    if q == "dew_point":
        return humidity.dew_point_c(t, rh, formulation=f)
    if q == "frost_point":
        return humidity.frost_point_c(t, rh, formulation=f)
    if q == "frost_dew_point":
        return humidity.frost_dew_point_c(t, rh, formulation=f)
    if q == "rh_over_ice":
        return humidity.rh_over_ice_pct(t, rh, formulation=f)
    if q == "ppmv":
        return humidity.ppmv(t, rh, p, formulation=f)
    if q == "mole_fraction":
        return humidity.mole_fraction_ppm(t, rh, p, formulation=f)
    if q == "mixing_ratio":
        return humidity.mixing_ratio_g_per_kg(t, rh, p, formulation=f)
    return humidity.absolute_humidity_g_m3(t, rh, p, formulation=f)


def derived_uncertainty(
    spec: DerivedSpec,
    t: humidity.FloatArray,
    rh: humidity.FloatArray,
    u_t: humidity.FloatArray,
    u_rh: humidity.FloatArray,
    p: humidity.FloatArray,
) -> humidity.FloatArray | None:
    """The expanded uncertainty of the spec's quantity from its inputs' (None: the quantity
    has no uncertainty model)."""
    f = spec.formulation
    if spec.quantity == "frost_point":
        return humidity.frost_point_uncertainty_k(t, rh, u_t, u_rh, formulation=f)
    if spec.quantity == "frost_dew_point":
        return humidity.frost_dew_point_uncertainty_k(t, rh, u_t, u_rh, formulation=f)
    if spec.quantity == "ppmv":
        return humidity.ppmv_uncertainty(t, rh, u_t, u_rh, p, formulation=f)
    return None
