"""Deterministic climatic-chamber physics: air temperature, spatial gradient, noise, humidity."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from loggerd.processing.humidity import rh_from_frost_point_pct

from .profile import Profile

__all__ = ["Chamber", "ChamberState"]

# Air temperature loop: an under-damped second-order response to the setpoint. A 3 min natural
# period and damping 0.7 give a 2 K/min ramp a steady lag of about 1.3 K and an overshoot of
# about 0.1 K when it stops (0.4 K after an 8 K/min rate-limited heat-up).
NATURAL_PERIOD_S: Final = 180.0
DAMPING_RATIO: Final = 0.7

# Spatial gradient: each channel sits at a fixed fraction (drawn from the seed, -1...+1) of an
# amplitude that grows with the distance from the room around the chamber: about 0.3 K at
# 25 °C and 1.0 K at -70 °C, as the walls and door seals leak more heat.
AMBIENT_C: Final = 23.0
GRADIENT_AT_AMBIENT_K: Final = 0.28
GRADIENT_PER_K: Final = 0.0078

# Fluctuations at each sensor: AR(1) noise, stationary standard deviation and correlation time.
NOISE_STD_K: Final = 0.03
NOISE_CORRELATION_S: Final = 20.0

# Humidity control (dryer / steam generator) pulls the frost/dew point towards its target.
HUMIDITY_TIME_CONSTANT_S: Final = 600.0

# Noise innovations are drawn from the generator this many steps at a time: the block
# boundaries depend only on the step count, so call patterns cannot change the draws (and
# the generator's stream is the same whatever the block: blocks of 64 draw what one of 4096
# did). Small, because a block is turned into Python floats at once: 4096 steps cost a
# logger 6 ms at its first read, which at a thousand loggers was seconds of a simulator's
# start.
_NOISE_BLOCK_STEPS: Final = 64
# Tolerates time_s / step_s landing just below a whole number through rounding.
_STEP_COUNT_SLACK: Final = 1e-9


@dataclass(frozen=True)
class ChamberState:
    """What the chamber air and the sensors in it read at one instant."""

    time_s: float  # seconds into the profile (the programme's time, `speed` times real time)
    air_temperature_c: float  # well-mixed air at the control sensor
    channel_temperatures_c: tuple[float, ...]  # air + steady spatial gradient + noise
    frost_point_c: float  # Td/f of the chamber air (frost point below 0 °C, dew point above)
    rh_pct: float  # RH w.r.t. water, consistent with air temperature and frost point


class Chamber:
    """A climatic chamber running a profile, stepped at a fixed interval.

    The physics advances in whole steps of `step_s` from t = 0, whatever times callers
    advance to, so the same seed gives the same states at the same step whichever way the
    chamber got there. `speed` runs the programme that many times as fast as the time it is
    advanced to (the loggers' real time): a 4 h profile takes 4 minutes at 60.
    """

    def __init__(
        self,
        profile: Profile,
        *,
        channel_count: int = 8,
        seed: int = 0,
        step_s: float = 1.0,
        speed: float = 1.0,
        max_cooling_rate_k_per_min: float = 5.0,
        max_heating_rate_k_per_min: float = 8.0,
    ) -> None:
        if channel_count < 1:
            raise ValueError(f"channel_count must be at least 1, got {channel_count}")
        if not (math.isfinite(step_s) and step_s > 0.0):
            raise ValueError(f"step_s must be a finite number > 0 s, got {step_s!r}")
        if not (math.isfinite(speed) and speed > 0.0):
            raise ValueError(f"speed must be a finite number > 0, got {speed!r}")
        for key, rate in (
            ("max_cooling_rate_k_per_min", max_cooling_rate_k_per_min),
            ("max_heating_rate_k_per_min", max_heating_rate_k_per_min),
        ):
            if not (math.isfinite(rate) and rate > 0.0):
                raise ValueError(f"{key} must be a finite number > 0 K/min, got {rate!r}")
        self._profile = profile
        self._step_s = step_s
        self._speed = speed
        self._max_cooling_k_per_s = max_cooling_rate_k_per_min / 60.0
        self._max_heating_k_per_s = max_heating_rate_k_per_min / 60.0

        # Exact discretisation of e'' + 2 zeta w e' + w^2 e = 0 (e = air - setpoint) over one
        # step with the setpoint held: stable and accurate for any step_s.
        omega = 2.0 * math.pi / NATURAL_PERIOD_S
        zeta_omega = DAMPING_RATIO * omega
        omega_d = omega * math.sqrt(1.0 - DAMPING_RATIO**2)
        decay = math.exp(-zeta_omega * step_s)
        cos_d = math.cos(omega_d * step_s)
        sin_d = math.sin(omega_d * step_s)
        self._a11 = decay * (cos_d + zeta_omega * sin_d / omega_d)
        self._a12 = decay * sin_d / omega_d
        self._a21 = -decay * sin_d * omega**2 / omega_d
        self._a22 = decay * (cos_d - zeta_omega * sin_d / omega_d)
        self._humidity_gain = 1.0 - math.exp(-step_s / HUMIDITY_TIME_CONSTANT_S)
        self._noise_memory = math.exp(-step_s / NOISE_CORRELATION_S)
        self._noise_innovation_std_k = NOISE_STD_K * math.sqrt(1.0 - self._noise_memory**2)

        # Draw order is part of the determinism contract: offsets, initial noise, then blocks.
        self._rng = np.random.default_rng(seed)
        self._offset_fractions: tuple[float, ...] = tuple(
            self._rng.uniform(-1.0, 1.0, channel_count).tolist()
        )
        self._noise_k: list[float] = (
            self._rng.standard_normal(channel_count) * NOISE_STD_K
        ).tolist()
        self._innovations_k: list[list[float]] = []

        self._step_count = 0
        self._requested_time_s = 0.0
        self._air_c = profile.start_temperature_c
        self._air_rate_k_per_s = 0.0
        self._frost_point_c = profile.start_frost_point_c
        self._state: ChamberState | None = None

    @property
    def profile(self) -> Profile:
        return self._profile

    @property
    def state(self) -> ChamberState:
        """The state after the last whole step (time 0 before any advance)."""
        if self._state is None:
            self._state = self._build_state()
        return self._state

    def advance_to(self, time_s: float) -> ChamberState:
        """Run the physics in whole steps up to `time_s` seconds after the start, which is
        `time_s * speed` seconds into the programme.

        The returned state is at the last whole step not after that. Asking for an earlier
        time than before raises `ValueError`: the chamber never goes back.
        """
        if not math.isfinite(time_s):
            raise ValueError(f"time_s must be a finite number of seconds, got {time_s!r}")
        if time_s < self._requested_time_s:
            raise ValueError(
                f"the chamber cannot go back in time: asked for {time_s!r} s after "
                f"{self._requested_time_s!r} s"
            )
        self._requested_time_s = time_s
        target_steps = math.floor(time_s * self._speed / self._step_s + _STEP_COUNT_SLACK)
        if target_steps > self._step_count:
            self._run_steps(target_steps)
            self._state = None
        return self.state

    def _run_steps(self, target_steps: int) -> None:
        # One Python loop over plain floats: at 1 s steps a 4 h run is 14 400 iterations, and
        # per-step numpy calls on scalars would cost more than the arithmetic itself.
        setpoint_at = self._profile.setpoint_at
        step_s = self._step_s
        a11, a12, a21, a22 = self._a11, self._a12, self._a21, self._a22
        max_fall_k = self._max_cooling_k_per_s * step_s
        max_rise_k = self._max_heating_k_per_s * step_s
        min_rate, max_rate = -self._max_cooling_k_per_s, self._max_heating_k_per_s
        humidity_gain = self._humidity_gain
        memory = self._noise_memory
        air_c, rate = self._air_c, self._air_rate_k_per_s
        frost_point_c = self._frost_point_c
        noise_k = self._noise_k
        for step in range(self._step_count, target_steps):
            # The setpoint at mid-step keeps a ramp's lag unbiased by the hold over the step.
            setpoint_c, frost_target_c = setpoint_at((step + 0.5) * step_s)
            error_k = air_c - setpoint_c
            new_error_k = a11 * error_k + a12 * rate
            rate = a21 * error_k + a22 * rate
            # The machine's heater and compressor cap how fast the air can change.
            air_c += min(max(setpoint_c + new_error_k - air_c, -max_fall_k), max_rise_k)
            rate = min(max(rate, min_rate), max_rate)
            frost_point_c += (frost_target_c - frost_point_c) * humidity_gain
            # Air cannot hold more water than saturation: the excess condenses or freezes out
            # (on the evaporator and walls), so Td/f never exceeds the air temperature.
            frost_point_c = min(frost_point_c, air_c)
            row = step % _NOISE_BLOCK_STEPS
            if row == 0:
                self._draw_noise_block()
            innovations = self._innovations_k[row]
            noise_k = [memory * n + z for n, z in zip(noise_k, innovations, strict=True)]
        self._step_count = target_steps
        self._air_c, self._air_rate_k_per_s = air_c, rate
        self._frost_point_c = frost_point_c
        self._noise_k = noise_k

    def _draw_noise_block(self) -> None:
        draws = self._rng.standard_normal((_NOISE_BLOCK_STEPS, len(self._noise_k)))
        self._innovations_k = (draws * self._noise_innovation_std_k).tolist()

    def _build_state(self) -> ChamberState:
        air_c = self._air_c
        amplitude_k = GRADIENT_AT_AMBIENT_K + GRADIENT_PER_K * abs(air_c - AMBIENT_C)
        channels = tuple(
            air_c + fraction * amplitude_k + noise
            for fraction, noise in zip(self._offset_fractions, self._noise_k, strict=True)
        )
        return ChamberState(
            time_s=self._step_count * self._step_s,
            air_temperature_c=air_c,
            channel_temperatures_c=channels,
            frost_point_c=self._frost_point_c,
            rh_pct=rh_from_frost_point_pct(air_c, self._frost_point_c),
        )
