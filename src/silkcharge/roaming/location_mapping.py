"""Our sites as OCPI 2.2.1 Locations: how a silkcharge site, its stations, EVSEs and connectors
become a Location, its EVSEs and their Connectors (mod_locations.asciidoc). Pure: the rows go
in, the OCPI objects come out; roaming/locations.py reads the rows and serves the objects.

- A site is one Location (OCPI prefers one Location per place, whatever its number of
  charge points); its `id` is the site code. OCPI ids are at most 36 characters, so a longer
  code is shortened to its first 27 characters, '~' and 8 hex digits of its SHA-256
  (`short_id`): stable, and told back to the code by computing it again.
- A station's EVSE is an EVSE with `uid` "<station id>*<evse id>" (shortened the same way), and
  the eMI3 `evse_id` "<country>*<party>*E<station id>*<evse id>" with every run of characters
  eMI3 does not allow in a station id written as '*' (eMI3 allows letters, digits and '*' as a
  separator, at most 31 after the 'E'); a station id that does not fit has no `evse_id`, which
  OCPI allows.
- The EVSE's status comes from the OCPP status of its connectors and of its station (`STATUS`,
  `evse_status`): a planned station's EVSEs are PLANNED, an offline station's UNKNOWN.
- A connector's voltage and current are not stored; they are derived from its standard and its
  rated power (`electrics`, docs/roaming.md "Locations").
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from silkcharge.domain.connectors import ConnectorStandard, CurrentType, parse_standard
from silkcharge.roaming.objects import coordinate_text
from silkcharge.roaming.wire import ocpi_datetime

OCPI_ID_LENGTH = 36

# ISO 3166-1 alpha-2 → alpha-3 for the countries a silkcharge site can be in (the region and
# its neighbours). OCPI writes a Location's and a CdrLocation's country in alpha-3, its parties
# in alpha-2.
ALPHA3 = {
    "KZ": "KAZ", "KG": "KGZ", "UZ": "UZB", "TJ": "TJK", "TM": "TKM", "CN": "CHN", "RU": "RUS",
    "MN": "MNG", "AF": "AFG", "IR": "IRN", "AZ": "AZE", "GE": "GEO", "AM": "ARM", "TR": "TUR",
    "PK": "PAK", "IN": "IND", "BY": "BLR", "UA": "UKR", "AE": "ARE", "DE": "DEU", "NL": "NLD",
    "BE": "BEL", "FR": "FRA", "GB": "GBR", "PL": "POL", "LT": "LTU", "LV": "LVA", "EE": "EST",
    "US": "USA",
}


class CannotPublish(ValueError):
    """A site that cannot be written as an OCPI Location (say, a country missing from ALPHA3)."""


def alpha3(country: str) -> str:
    try:
        return ALPHA3[country.upper()]
    except KeyError:
        raise CannotPublish(f"no ISO 3166 alpha-3 code known for country {country!r}") from None


def short_id(text: str, limit: int = OCPI_ID_LENGTH) -> str:
    """`text` if it fits OCPI's `limit`, else its first characters, '~' and 8 hex digits of its
    SHA-256: the same text always gives the same id."""
    if len(text) <= limit:
        return text
    return text[: limit - 9] + "~" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def evse_uid(station_id: str, evse_id: int) -> str:
    return short_id(f"{station_id}*{evse_id}")


_NOT_EMI3 = re.compile(r"[^A-Za-z0-9]+")


def emi3_evse_id(country_code: str, party_id: str, station_id: str, evse_id: int) -> str | None:
    """The eMI3 EVSE ID, e.g. "KZ*SLK*EALA001*1", or None when the station id cannot make one."""
    outlet = _NOT_EMI3.sub("*", station_id).strip("*").upper()
    outlet = f"{outlet}*{evse_id}" if outlet else ""
    if not outlet or len(outlet) > 31:
        return None
    return f"{country_code.upper()}*{party_id.upper()}*E{outlet}"


# -- status -----------------------------------------------------------------------------------

STATUS = {
    # OCPP 1.6 ChargePointStatus and 2.0.1 ConnectorStatusEnumType → OCPI Status
    "Available": "AVAILABLE",
    "Preparing": "CHARGING",      # a driver has plugged in or started: the EVSE is taken
    "Charging": "CHARGING",
    "SuspendedEV": "CHARGING",
    "SuspendedEVSE": "CHARGING",
    "Finishing": "CHARGING",      # the car is still there
    "Occupied": "CHARGING",       # 2.0.1
    "Reserved": "RESERVED",
    "Unavailable": "INOPERATIVE",
    "Faulted": "OUTOFORDER",
}
"""How an OCPP connector status reads in OCPI; anything else (Unknown, nothing yet) is UNKNOWN.
OCPP has no status for a car parked without charging, so we never say BLOCKED."""

_STATION_WIDE = {"Unavailable": "INOPERATIVE", "Faulted": "OUTOFORDER"}
_PRECEDENCE = ("CHARGING", "RESERVED", "AVAILABLE", "INOPERATIVE", "OUTOFORDER", "UNKNOWN")


@dataclass(frozen=True)
class StationFacts:
    """What of a station decides its EVSEs' status."""

    id: str
    online: bool
    planned: bool
    status: str | None
    """Station-wide status (OCPP 1.6 connector 0)."""
    moved: bool = False
    """Moved to another CSMS (B10): no longer part of this network until it connects here again."""


def evse_status(station: StationFacts, connector_statuses: Iterable[str | None]) -> str:
    """One EVSE's OCPI status: PLANNED for a planned station, REMOVED for one moved to another
    CSMS (OCPI: "not part of the network anymore"), UNKNOWN while it is offline, the
    station-wide Unavailable/Faulted for all its EVSEs, else its connectors' (an EVSE charges one
    car: one connector in use makes it CHARGING, one free connector AVAILABLE)."""
    if station.planned:
        return "PLANNED"
    if not station.online:
        return "REMOVED" if station.moved else "UNKNOWN"
    if station.status in _STATION_WIDE:
        return _STATION_WIDE[station.status]
    found = {STATUS.get(status or "", "UNKNOWN") for status in connector_statuses}
    return next((status for status in _PRECEDENCE if status in found), "UNKNOWN")


# -- connectors -------------------------------------------------------------------------------

AC_VOLTAGE = 230
"""Line-to-neutral AC voltage of the region's grids (Kazakhstan, Uzbekistan, Kyrgyzstan,
Tajikistan, Turkmenistan: 220/230 V; GOST 29322 sets 230 V)."""
SINGLE_PHASE_MAX_AMPERES = 32
"""Above this, an AC connector's rated power needs three phases."""
DC_REFERENCE_VOLTAGE = 400
"""The battery voltage the DC current is worked out at: most cars on the region's roads are
400 V cars, so this is the current a driver's car will draw at full power."""

DC_RATING = {
    # standard: (rated maximum voltage V, rated maximum current A) of the connector standard
    ConnectorStandard.CCS2: (1000, 500),
    ConnectorStandard.CCS1: (1000, 500),
    ConnectorStandard.GBT_DC: (750, 250),      # GB/T 20234.3-2015
    ConnectorStandard.CHADEMO: (500, 400),
    ConnectorStandard.CHAOJI: (1500, 600),
    ConnectorStandard.NACS: (1000, 900),
}


@dataclass(frozen=True)
class Electrics:
    power_type: str
    max_voltage: int
    max_amperage: int
    max_electric_power: int
    format: str


def electrics(standard: ConnectorStandard, max_power_kw: Decimal) -> Electrics:
    """The OCPI power fields of a connector, from the only two facts stored: its standard and
    its rated power. `max_electric_power` is the rated power in watts, always set.

    - DC: `max_voltage` is the standard's rated voltage (`DC_RATING`); `max_amperage` the current
      the rated power takes at `DC_REFERENCE_VOLTAGE`, at most the standard's rated current. DC
      connectors always have a cable.
    - AC: `max_voltage` is `AC_VOLTAGE` (line to neutral, as OCPI counts for three phases too);
      single phase while the rated power takes at most 32 A at that voltage (rounded: a
      "7.4 kW" point is 32 A; and always for Type 1, a single-phase standard), else three
      phases; `max_amperage` the current per phase, rounded.
      Type 1 has a cable (its sockets do not exist); Type 2 and GB/T AC are written as sockets,
      the usual public AC point.
    """
    watts = int(Decimal(max_power_kw) * 1000)
    if standard.current is CurrentType.DC:
        voltage, rated_current = DC_RATING.get(standard, (1000, 500))
        amperes = min(rated_current, math.ceil(watts / DC_REFERENCE_VOLTAGE))
        return Electrics("DC", voltage, amperes, watts, "CABLE")
    single = round(watts / AC_VOLTAGE)  # a "7.4 kW" point is 32 A x 230 V = 7.36 kW
    if single <= SINGLE_PHASE_MAX_AMPERES or standard is ConnectorStandard.TYPE1:
        power_type, amperes = "AC_1_PHASE", max(single, 1)
    else:
        power_type, amperes = "AC_3_PHASE", round(watts / (3 * AC_VOLTAGE))
    connector_format = "CABLE" if standard is ConnectorStandard.TYPE1 else "SOCKET"
    return Electrics(power_type, AC_VOLTAGE, amperes, watts, connector_format)


# -- the objects ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteFacts:
    code: str
    name: str
    address: str | None
    city: str | None
    country: str
    lat: float
    lon: float
    timezone: str
    operator_name: str
    updated_at: datetime


@dataclass(frozen=True)
class ConnectorFacts:
    station_id: str
    evse_id: int
    connector_id: int
    standard: str
    max_power_kw: Decimal
    status: str | None
    updated_at: datetime


def connector_object(connector: ConnectorFacts, tariff_ids: Sequence[str], last_updated: datetime) -> dict[str, Any]:
    standard = parse_standard(connector.standard)
    power = electrics(standard, connector.max_power_kw)
    body: dict[str, Any] = {
        "id": str(connector.connector_id),
        "standard": standard.ocpi,
        "format": power.format,
        "power_type": power.power_type,
        "max_voltage": power.max_voltage,
        "max_amperage": power.max_amperage,
        "max_electric_power": power.max_electric_power,
    }
    if tariff_ids:
        body["tariff_ids"] = list(tariff_ids)
    body["last_updated"] = ocpi_datetime(last_updated)
    return body


def location_object(
    site: SiteFacts,
    stations: Sequence[StationFacts],
    connectors: Sequence[ConnectorFacts],
    *,
    country_code: str,
    party_id: str,
    tariff_ids: Sequence[str],
    tariffs_updated: datetime | None,
) -> dict[str, Any]:
    """The OCPI Location of `site` with every EVSE of its `stations` (the `connectors` are theirs).
    `tariff_ids` apply to every connector; `tariffs_updated` is when they last changed, which
    counts as an update of each connector. A site with no connector has no EVSE."""
    by_evse: dict[tuple[str, int], list[ConnectorFacts]] = {}
    for connector in sorted(connectors, key=lambda c: (c.station_id, c.evse_id, c.connector_id)):
        by_evse.setdefault((connector.station_id, connector.evse_id), []).append(connector)
    station_of = {station.id: station for station in stations}
    evses = []
    newest = site.updated_at
    for (station_id, evse_number), own in by_evse.items():
        station = station_of.get(station_id)
        if station is None:
            continue
        stamps = [max(c.updated_at, tariffs_updated) if tariffs_updated else c.updated_at for c in own]
        evse_updated = max(stamps)
        newest = max(newest, evse_updated)
        evse: dict[str, Any] = {"uid": evse_uid(station_id, evse_number)}
        emi3 = emi3_evse_id(country_code, party_id, station_id, evse_number)
        if emi3:
            evse["evse_id"] = emi3
        evse["status"] = evse_status(station, (c.status for c in own))
        evse["connectors"] = [connector_object(c, tariff_ids, stamp) for c, stamp in zip(own, stamps)]
        evse["last_updated"] = ocpi_datetime(evse_updated)
        evses.append(evse)
    if tariffs_updated is not None and evses:
        newest = max(newest, tariffs_updated)
    return {
        "country_code": country_code.upper(),
        "party_id": party_id.upper(),
        "id": short_id(site.code),
        "publish": True,
        "name": site.name[:255],
        "address": (site.address or site.name)[:45],
        "city": (site.city or site.name)[:45],
        "country": alpha3(site.country),
        "coordinates": {"latitude": coordinate_text(site.lat), "longitude": coordinate_text(site.lon)},
        "evses": evses,
        "operator": {"name": site.operator_name[:100]},
        "time_zone": site.timezone,
        "last_updated": ocpi_datetime(newest),
    }
