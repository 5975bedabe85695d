"""A clear-sky PV production estimate from location, time and panel size.

Used when a site has solar panels but no forecast is supplied. The model, in four steps:

1. **Solar position** (NOAA's low-precision formulas, after Spencer 1971), with the fractional
   year g = 2 pi / 365 x (day_of_year - 1 + (hour - 12) / 24):
   declination d = 0.006918 - 0.399912 cos g + 0.070257 sin g - 0.006758 cos 2g
   + 0.000907 sin 2g - 0.002697 cos 3g + 0.00148 sin 3g (radians); equation of time
   EoT = 229.18 (0.000075 + 0.001868 cos g - 0.032077 sin g - 0.014615 cos 2g
   - 0.040849 sin 2g) minutes; true solar time = UTC minutes + EoT + 4 x longitude;
   hour angle h = (true solar time / 4 - 180) degrees;
   cos(zenith) = sin(lat) sin(d) + cos(lat) cos(d) cos(h).
2. **Global horizontal irradiance, clear sky** (Haurwitz 1945):
   GHI = 1098 cos(z) exp(-0.057 / cos(z)) W/m2 for cos(z) > 0, else 0.
3. **Split into beam and diffuse** with the Erbs (1982) correlation on the clearness index
   kt = GHI / (1361 x (1 + 0.033 cos(2 pi n / 365)) x cos z).
4. **Plane of array** (isotropic sky): POA = DNI cos(AOI) + DHI (1 + cos b) / 2
   + GHI albedo (1 - cos b) / 2, with tilt b, albedo 0.2 and
   cos(AOI) = cos z cos b + sin z sin b cos(solar azimuth - panel azimuth).
   AC power = kWp x POA / 1000 W/m2 x performance ratio (default 0.8: inverter, wiring,
   temperature and soiling losses together).

Clear sky is an upper bound: clouds only lower production, so a plan built on it may find
less free energy than assumed and fall back to the grid, within the same limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from silkcharge.smart.site import TimeSeries

SOLAR_CONSTANT = 1361.0  # W/m2
ALBEDO = 0.2


def _fractional_year(moment: datetime) -> tuple[float, int]:
    day = moment.timetuple().tm_yday
    hours = moment.hour + moment.minute / 60 + moment.second / 3600
    return 2 * math.pi / 365 * (day - 1 + (hours - 12) / 24), day


def solar_position(lat: float, lon: float, moment: datetime) -> tuple[float, float]:
    """(cos of the zenith angle, azimuth in degrees clockwise from north) at `moment` (UTC)."""
    if moment.tzinfo is None:
        raise ValueError("solar position needs an aware UTC time")
    g, _ = _fractional_year(moment)
    decl = (
        0.006918 - 0.399912 * math.cos(g) + 0.070257 * math.sin(g) - 0.006758 * math.cos(2 * g)
        + 0.000907 * math.sin(2 * g) - 0.002697 * math.cos(3 * g) + 0.00148 * math.sin(3 * g)
    )
    eot = 229.18 * (
        0.000075 + 0.001868 * math.cos(g) - 0.032077 * math.sin(g)
        - 0.014615 * math.cos(2 * g) - 0.040849 * math.sin(2 * g)
    )
    utc_minutes = moment.hour * 60 + moment.minute + moment.second / 60
    true_solar = utc_minutes + eot + 4 * lon
    hour_angle = math.radians(true_solar / 4 - 180)
    phi = math.radians(lat)
    cos_z = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(hour_angle)
    cos_z = max(-1.0, min(1.0, cos_z))
    sin_z = math.sqrt(1 - cos_z * cos_z)
    if sin_z < 1e-9:
        return cos_z, 180.0
    cos_az = (math.sin(decl) - math.sin(phi) * cos_z) / (math.cos(phi) * sin_z)
    azimuth = math.degrees(math.acos(max(-1.0, min(1.0, cos_az))))
    if math.sin(hour_angle) > 0:  # afternoon: the sun is west of the meridian
        azimuth = 360 - azimuth
    return cos_z, azimuth


def clear_sky_ghi(cos_zenith: float) -> float:
    """Haurwitz clear-sky global horizontal irradiance, W/m2."""
    if cos_zenith <= 0.01:
        return 0.0
    return 1098.0 * cos_zenith * math.exp(-0.057 / cos_zenith)


def _erbs_diffuse_fraction(kt: float) -> float:
    if kt <= 0.22:
        return 1.0 - 0.09 * kt
    if kt <= 0.8:
        return 0.9511 - 0.1604 * kt + 4.388 * kt**2 - 16.638 * kt**3 + 12.336 * kt**4
    return 0.165


@dataclass(frozen=True)
class PvArray:
    """Panels at a site: peak power, orientation (azimuth 180 = facing south) and losses."""

    lat: float
    lon: float
    kwp: float
    tilt: float = 30.0
    azimuth: float = 180.0
    performance_ratio: float = 0.8

    def power_w(self, moment: datetime) -> float:
        """Clear-sky AC power in W at `moment` (UTC)."""
        cos_z, sun_az = solar_position(self.lat, self.lon, moment)
        ghi = clear_sky_ghi(cos_z)
        if ghi == 0.0:
            return 0.0
        _, day = _fractional_year(moment)
        extra = SOLAR_CONSTANT * (1 + 0.033 * math.cos(2 * math.pi * day / 365))
        dhi = ghi * _erbs_diffuse_fraction(ghi / (extra * cos_z))
        dni = (ghi - dhi) / cos_z
        beta = math.radians(self.tilt)
        sin_z = math.sqrt(1 - cos_z * cos_z)
        cos_aoi = cos_z * math.cos(beta) + sin_z * math.sin(beta) * math.cos(math.radians(sun_az - self.azimuth))
        poa = dni * max(cos_aoi, 0.0) + dhi * (1 + math.cos(beta)) / 2 + ghi * ALBEDO * (1 - math.cos(beta)) / 2
        return self.kwp * poa * self.performance_ratio

    def forecast(self, start: datetime, step: timedelta, count: int, samples: int = 6) -> TimeSeries:
        """Mean power of each slot (W), averaged over `samples` points inside it."""
        values = []
        for index in range(count):
            slot = start + index * step
            points = [slot + step * ((k + 0.5) / samples) for k in range(samples)]
            values.append(sum(self.power_w(p) for p in points) / samples)
        return TimeSeries(start, step, tuple(values))
