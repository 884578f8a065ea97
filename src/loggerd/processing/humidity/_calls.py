"""The public calls of the vectorised functions, one Protocol per shape, each written once.

mypy checks callers against them, `vectorised` the functions (at import). The last, plain
`__call__` of each only makes its overloads known at run time (typing.get_overloads).
"""

from __future__ import annotations

from typing import Protocol, overload

from loggerd.processing.humidity._arrays import ArrayInput, FloatArray
from loggerd.processing.humidity.formulations import FormulationLike, Phase


class SaturationCall(Protocol):
    """The call of saturation_vapour_pressure_pa."""

    @overload
    def __call__(
        self, temperature_c: float, over: Phase = ..., *, formulation: FormulationLike = ...
    ) -> float: ...
    @overload
    def __call__(
        self, temperature_c: ArrayInput, over: Phase = ..., *, formulation: FormulationLike = ...
    ) -> FloatArray: ...
    def __call__(self, *args: object, **kwargs: object) -> float | FloatArray: ...


class AirCall(Protocol):
    """The call of dew_point_c, frost_point_c, frost_dew_point_c and rh_over_ice_pct."""

    @overload
    def __call__(
        self, temperature_c: float, rh_pct: float, *, formulation: FormulationLike = ...
    ) -> float: ...
    @overload
    def __call__(
        self,
        temperature_c: ArrayInput,
        rh_pct: float | ArrayInput,
        *,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    @overload
    def __call__(
        self, temperature_c: float, rh_pct: ArrayInput, *, formulation: FormulationLike = ...
    ) -> FloatArray: ...
    def __call__(self, *args: object, **kwargs: object) -> float | FloatArray: ...


class TdFCall(Protocol):
    """The call of rh_from_frost_point_pct."""

    @overload
    def __call__(
        self, temperature_c: float, frost_point_c: float, *, formulation: FormulationLike = ...
    ) -> float: ...
    @overload
    def __call__(
        self,
        temperature_c: ArrayInput,
        frost_point_c: float | ArrayInput,
        *,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    @overload
    def __call__(
        self,
        temperature_c: float,
        frost_point_c: ArrayInput,
        *,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    def __call__(self, *args: object, **kwargs: object) -> float | FloatArray: ...


class EnhancementCall(Protocol):
    """The call of enhancement_factor."""

    @overload
    def __call__(self, temperature_c: float, pressure_hpa: float, over: Phase = ...) -> float: ...
    @overload
    def __call__(
        self, temperature_c: ArrayInput, pressure_hpa: float | ArrayInput, over: Phase = ...
    ) -> FloatArray: ...
    @overload
    def __call__(
        self, temperature_c: float, pressure_hpa: ArrayInput, over: Phase = ...
    ) -> FloatArray: ...
    def __call__(self, *args: object, **kwargs: object) -> float | FloatArray: ...


class WaterContentCall(Protocol):
    """The call of ppmv, mole_fraction_ppm, mixing_ratio_g_per_kg and absolute_humidity_g_m3."""

    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: float,
        pressure_hpa: float = ...,
        *,
        formulation: FormulationLike = ...,
    ) -> float: ...
    @overload
    def __call__(
        self,
        temperature_c: ArrayInput,
        rh_pct: float | ArrayInput,
        pressure_hpa: float | ArrayInput = ...,
        *,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: ArrayInput,
        pressure_hpa: float | ArrayInput = ...,
        *,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: float,
        pressure_hpa: ArrayInput,
        *,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    def __call__(self, *args: object, **kwargs: object) -> float | FloatArray: ...


class TdFUncertaintyCall(Protocol):
    """The call of frost_point_uncertainty_k and frost_dew_point_uncertainty_k."""

    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: float,
        u_temperature_k: float,
        u_rh_pct: float,
        k: float = ...,
        *,
        k_temperature: float = ...,
        k_rh: float = ...,
        formulation: FormulationLike = ...,
    ) -> float: ...
    @overload
    def __call__(
        self,
        temperature_c: ArrayInput,
        rh_pct: float | ArrayInput,
        u_temperature_k: float | ArrayInput,
        u_rh_pct: float | ArrayInput,
        k: float = ...,
        *,
        k_temperature: float = ...,
        k_rh: float = ...,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: ArrayInput,
        u_temperature_k: float | ArrayInput,
        u_rh_pct: float | ArrayInput,
        k: float = ...,
        *,
        k_temperature: float = ...,
        k_rh: float = ...,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: float,
        u_temperature_k: ArrayInput,
        u_rh_pct: float | ArrayInput,
        k: float = ...,
        *,
        k_temperature: float = ...,
        k_rh: float = ...,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: float,
        u_temperature_k: float,
        u_rh_pct: ArrayInput,
        k: float = ...,
        *,
        k_temperature: float = ...,
        k_rh: float = ...,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    def __call__(self, *args: object, **kwargs: object) -> float | FloatArray: ...


class PpmvUncertaintyCall(Protocol):
    """The call of ppmv_uncertainty."""

    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: float,
        u_temperature_k: float,
        u_rh_pct: float,
        pressure_hpa: float = ...,
        k: float = ...,
        *,
        u_pressure_hpa: float = ...,
        k_temperature: float = ...,
        k_rh: float = ...,
        k_pressure: float = ...,
        formulation: FormulationLike = ...,
    ) -> float: ...
    @overload
    def __call__(
        self,
        temperature_c: ArrayInput,
        rh_pct: float | ArrayInput,
        u_temperature_k: float | ArrayInput,
        u_rh_pct: float | ArrayInput,
        pressure_hpa: float | ArrayInput = ...,
        k: float = ...,
        *,
        u_pressure_hpa: float | ArrayInput = ...,
        k_temperature: float = ...,
        k_rh: float = ...,
        k_pressure: float = ...,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: ArrayInput,
        u_temperature_k: float | ArrayInput,
        u_rh_pct: float | ArrayInput,
        pressure_hpa: float | ArrayInput = ...,
        k: float = ...,
        *,
        u_pressure_hpa: float | ArrayInput = ...,
        k_temperature: float = ...,
        k_rh: float = ...,
        k_pressure: float = ...,
        formulation: FormulationLike = ...,
    ) -> FloatArray: ...
    # Any other array input with a scalar temperature and RH: float or array, not told apart.
    @overload
    def __call__(
        self,
        temperature_c: float,
        rh_pct: float,
        u_temperature_k: float | ArrayInput,
        u_rh_pct: float | ArrayInput,
        pressure_hpa: float | ArrayInput = ...,
        k: float = ...,
        *,
        u_pressure_hpa: float | ArrayInput = ...,
        k_temperature: float = ...,
        k_rh: float = ...,
        k_pressure: float = ...,
        formulation: FormulationLike = ...,
    ) -> float | FloatArray: ...
    def __call__(self, *args: object, **kwargs: object) -> float | FloatArray: ...
