"""Humidity of moist air down to -100 °C from named vapour-pressure formulations.

Saturation pressure, dew and frost point, RH over ice, ppmv and the other water contents, and
their GUM uncertainty. RH is with respect to supercooled water at all temperatures (WMO), using
the chosen formulation's water curve: below -40 °C the published curves differ by several per
cent, so the formulation is a per-channel setting, recorded with each derived sample. Dew and
frost points are exact pure-phase inversions. Out-of-range inputs raise `HumidityRangeError`
(`valid_input_mask` predicts which); NaN is a missing reading and stays NaN. Scalars in give a
float out, any array in gives an array out.
"""

from __future__ import annotations

from loggerd.processing.humidity._arrays import BoolArray, FloatArray
from loggerd.processing.humidity.enhancement import ENHANCEMENT_FACTOR_SOURCE, enhancement_factor
from loggerd.processing.humidity.formulations import (
    FORMULATIONS,
    Formulation,
    FormulationInfo,
    FormulationLike,
    Phase,
    describe_formulation,
)
from loggerd.processing.humidity.inversions import (
    dew_point_c,
    frost_dew_point_c,
    frost_point_c,
    rh_from_frost_point_pct,
)
from loggerd.processing.humidity.ranges import HumidityRangeError
from loggerd.processing.humidity.saturation import rh_over_ice_pct, saturation_vapour_pressure_pa
from loggerd.processing.humidity.uncertainty import (
    frost_dew_point_uncertainty_k,
    frost_point_uncertainty_k,
    ppmv_uncertainty,
)
from loggerd.processing.humidity.validity import Quantity, valid_input_mask
from loggerd.processing.humidity.water_content import (
    ABSOLUTE_HUMIDITY_MODEL,
    MOLAR_GAS_CONSTANT_J_PER_MOL_K,
    MOLAR_MASS_DRY_AIR_G_PER_MOL,
    MOLAR_MASS_WATER_G_PER_MOL,
    absolute_humidity_g_m3,
    mixing_ratio_g_per_kg,
    mole_fraction_ppm,
    ppmv,
)

__all__ = [
    "ABSOLUTE_HUMIDITY_MODEL",
    "ENHANCEMENT_FACTOR_SOURCE",
    "FORMULATIONS",
    "MOLAR_GAS_CONSTANT_J_PER_MOL_K",
    "MOLAR_MASS_DRY_AIR_G_PER_MOL",
    "MOLAR_MASS_WATER_G_PER_MOL",
    "BoolArray",
    "FloatArray",
    "Formulation",
    "FormulationInfo",
    "FormulationLike",
    "HumidityRangeError",
    "Phase",
    "Quantity",
    "absolute_humidity_g_m3",
    "describe_formulation",
    "dew_point_c",
    "enhancement_factor",
    "frost_dew_point_c",
    "frost_dew_point_uncertainty_k",
    "frost_point_c",
    "frost_point_uncertainty_k",
    "mixing_ratio_g_per_kg",
    "mole_fraction_ppm",
    "ppmv",
    "ppmv_uncertainty",
    "rh_from_frost_point_pct",
    "rh_over_ice_pct",
    "saturation_vapour_pressure_pa",
    "valid_input_mask",
]
