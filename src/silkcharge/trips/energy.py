"""How much energy a vehicle uses on a stretch of road, and how fast it charges in the cold.

A small physics model per vehicle, calibrated to the catalog's rated consumption:

* **Real-world calibration.** The catalog's consumption comes from a test cycle (CLTC, NEDC,
  WLTP, EPA) or from measured real-world averages. `CYCLE_TO_REAL` converts each to real-world
  driving with factors measured on the catalog itself (vehicles that carry both a real-world
  figure and a rated range; see the table's notes). The result is the consumption at the
  reference: `REFERENCE_SPEED_KMH` on a flat road at `REFERENCE_TEMP_C`.
* **Physics.** Rolling resistance (mass x g x Crr), aerodynamic drag (1/2 rho CdA v^2, with air
  density falling with height and rising in the cold), drivetrain efficiency, an auxiliary load
  (electronics, cabin heating below 18 °C, cooling above 24 °C) and a cold-battery penalty. The
  model's flat-road consumption at the reference is scaled to the real-world figure, so the
  physics sets how consumption *changes* with speed, temperature and height, and the catalog
  sets its level.
* **Elevation.** Climbing costs m g h at the drivetrain's efficiency; descending first pays the
  rolling and air losses, and what is left is recovered at the regeneration efficiency.
* **Cold charging.** DC charging power falls in the cold (`charge_rate_factor`).

Mass and drag area are not in the catalog: `mass_kg` is estimated from the battery size and
`cda_m2` from the body type (illustrative values, see the functions); both only shape the
corrections, since the level is calibrated. All of this is pure and vectorised over numpy
arrays: the planner evaluates every road edge of a route in one call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

import numpy as np

from silkcharge.domain.vehicles import Vehicle

__all__ = [
    "BATTERY_WARMING_C",
    "CYCLE_TO_REAL",
    "Climate",
    "EnergyModel",
    "REFERENCE_SPEED_KMH",
    "REFERENCE_TEMP_C",
    "charge_rate_factor",
    "load_climate",
]

G = 9.81
BATTERY_WARMING_C = 10.0
"""Assumed: a battery arriving at a charger after driving is this much warmer than the air
(illustrative; cars that precondition do better, cars parked overnight worse)."""
REFERENCE_SPEED_KMH = 80.0
REFERENCE_TEMP_C = 15.0

CYCLE_TO_REAL: dict[str, tuple[float, str]] = {
    "kilowatt average (real-world mix)": (1.0, "measured real-world average (Kilowatt open EV data)"),
    "wltp": (1.25, "median real-world / WLTP consumption over 336 catalog vehicles with both "
                   "(1.247)"),
    "epa": (1.03, "median real-world / EPA consumption over 139 catalog vehicles with both "
                  "(1.033); the EPA label is already adjusted toward real driving"),
    "cltc": (1.44, "median real-world / CLTC consumption over 23 catalog vehicles with both "
                   "(1.441); cross-check: CLTC/WLTP range 1.246 (127 vehicles) x WLTP 1.247 = "
                   "1.55, so 1.44 is the kinder of the two"),
    "nedc": (1.44, "as CLTC: the 43 catalog vehicles rated on both cycles have the same range "
                   "(median ratio 1.00)"),
    "other": (1.25, "unknown cycle: treated as WLTP"),
}
"""Rated consumption x factor = real-world consumption at the reference; with its source.
Measured on catalog.json (build 2026-12-03) by comparing each vehicle's real-world figure
with its rated ranges; a basis not listed (hand-built test cars) keeps factor 1."""

_BODY_CDA = {"sedan": 0.52, "liftback": 0.52, "coupe": 0.52, "wagon": 0.58, "hatchback": 0.6,
             "crossover": 0.7, "suv": 0.8, "mpv": 0.95, "van": 1.0, "pickup": 1.05}


def cycle_factor(basis: str) -> float:
    """Real-world consumption / rated consumption for a catalog `consumption_basis`."""
    return CYCLE_TO_REAL.get(basis.casefold(), (1.0, ""))[0]


def charge_rate_factor(temp_c: np.ndarray | float) -> np.ndarray:
    """Share of the warm DC charging power a battery takes at this outside temperature.

    1 at 20 °C and above, 0.64 at 0 °C, never below 0.4. The 0 °C figure follows Motoaki, Yi
    and Salisbury, "Empirical analysis of electric vehicle fast charging under cold
    temperatures" (Energy Policy 122, 2018; Idaho National Laboratory fleet data): 36 % less
    energy in a 30-minute DC session at 0 °C than at 25 °C. The straight line between the
    points is an assumption. A battery warmed by driving or preconditioning does better.
    """
    return np.clip(0.64 + 0.018 * np.asarray(temp_c, dtype=float), 0.4, 1.0)


@dataclass(frozen=True)
class EnergyModel:
    """Consumption of one vehicle under given speed, temperature and height."""

    real_wh_km: float
    """Real-world consumption at the reference (flat, 80 km/h, 15 °C)."""
    mass_kg: float
    cda_m2: float
    crr: float = 0.011
    drive_eff: float = 0.90
    regen_eff: float = 0.65
    scale: float = 1.0
    """Real-world consumption / the physics' own figure at the reference."""

    @classmethod
    def for_vehicle(cls, vehicle: Vehicle, *, extra_factor: float = 1.0) -> EnergyModel:
        """The model of a catalog vehicle; `extra_factor` multiplies the calibrated level."""
        real = vehicle.consumption_wh_km * cycle_factor(vehicle.consumption_basis) * extra_factor
        body = (vehicle.body or "").casefold()
        model = cls(real_wh_km=real, mass_kg=mass_kg(vehicle.battery_kwh),
                    cda_m2=_BODY_CDA.get(body, 0.7))
        reference = float(model._traction_wh_km(REFERENCE_SPEED_KMH, REFERENCE_TEMP_C, 0.0)
                          + model._aux_wh_km(REFERENCE_SPEED_KMH, REFERENCE_TEMP_C))
        return cls(real, model.mass_kg, model.cda_m2, scale=real / reference)

    # ---- physics, per km, before calibration ----------------------------------------------

    def _traction_wh_km(self, speed_kmh, temp_c, elev_m):
        v = np.asarray(speed_kmh, dtype=float) / 3.6
        t = np.asarray(temp_c, dtype=float)
        h = np.nan_to_num(np.asarray(elev_m, dtype=float), nan=0.0)
        rho = 1.225 * 288.15 / (273.15 + t) * np.exp(-h / 8400.0)
        force = self.mass_kg * G * self.crr + 0.5 * rho * self.cda_m2 * v * v
        cold = 1.0 + 0.005 * np.maximum(0.0, 10.0 - t)  # battery resistance, thick lubricants
        return force / 3.6 / self.drive_eff * cold

    @staticmethod
    def _aux_wh_km(speed_kmh, temp_c):
        t = np.asarray(temp_c, dtype=float)
        watts = (300.0 + np.minimum(120.0 * np.maximum(0.0, 18.0 - t), 4000.0)
                 + 80.0 * np.maximum(0.0, t - 24.0))
        return watts / np.asarray(speed_kmh, dtype=float)

    # ---- calibrated ------------------------------------------------------------------------

    def flat_wh_km(self, speed_kmh, temp_c=REFERENCE_TEMP_C, elev_m=0.0) -> np.ndarray:
        """Consumption on a level road (Wh/km)."""
        return self.scale * (self._traction_wh_km(speed_kmh, temp_c, elev_m)
                             + self._aux_wh_km(speed_kmh, temp_c))

    def edge_kwh(self, km, speed_kmh, rise_m, temp_c=REFERENCE_TEMP_C,
                 elev_m=np.nan) -> np.ndarray:
        """Battery energy (kWh, negative when regeneration wins) to drive each stretch.

        `rise_m` is the height gained (negative: lost) from start to end of the stretch.
        """
        km = np.asarray(km, dtype=float)
        temp = np.asarray(temp_c, dtype=float)
        cold = 1.0 + 0.005 * np.maximum(0.0, 10.0 - temp)
        traction = self.scale * self._traction_wh_km(speed_kmh, temp, elev_m) * km
        wheel = traction * self.drive_eff / cold
        need = wheel + self.mass_kg * G * np.asarray(rise_m, dtype=float) / 3600.0
        battery = np.where(need >= 0, need / self.drive_eff * cold, need * self.regen_eff)
        return (battery + self.scale * self._aux_wh_km(speed_kmh, temp) * km) / 1000.0


def mass_kg(battery_kwh: float) -> float:
    """Illustrative laden mass: 1,100 kg + 9 kg per kWh of battery + 150 kg of people and
    luggage (a 64 kWh crossover: about 1,830 kg). The catalog has no curb weights."""
    return 1100.0 + 9.0 * battery_kwh + 150.0


# ---- temperature by date and place ------------------------------------------------------


@dataclass(frozen=True)
class Climate:
    """Monthly normal temperatures at weather stations; nearest station, height-corrected."""

    lat: np.ndarray
    lon: np.ndarray
    elev: np.ndarray
    jan: np.ndarray
    jul: np.ndarray
    names: tuple[str, ...]
    lapse_c_per_km: float = 6.5

    def temperature(self, lat, lon, elev_m, day: date) -> np.ndarray:
        """Normal mean temperature (°C) on `day` at the points; NaN elevation: station's own."""
        lat = np.atleast_1d(np.asarray(lat, dtype=float))
        lon = np.atleast_1d(np.asarray(lon, dtype=float))
        d2 = ((lat[:, None] - self.lat[None, :]) ** 2
              + ((lon[:, None] - self.lon[None, :]) * np.cos(np.radians(lat[:, None]))) ** 2)
        station = np.argmin(d2, axis=1)
        phase = 2 * np.pi * (day.timetuple().tm_yday - 15) / 365.25
        normal = ((self.jan + self.jul) / 2 - (self.jul - self.jan) / 2 * np.cos(phase))[station]
        height = np.atleast_1d(np.asarray(elev_m, dtype=float))
        height = np.where(np.isfinite(height), height, self.elev[station])
        return normal - self.lapse_c_per_km * (height - self.elev[station]) / 1000.0


@cache
def load_climate() -> Climate:
    raw = json.loads((resources.files("silkcharge.data") / "roads" / "climate.json")
                     .read_text(encoding="utf-8"))
    rows = raw["stations"]
    column = lambda key: np.array([r[key] for r in rows], dtype=float)  # noqa: E731
    return Climate(column("lat"), column("lon"), column("elev_m"), column("jan"), column("jul"),
                   tuple(r["name"] for r in rows), raw["lapse_rate_c_per_km"])
