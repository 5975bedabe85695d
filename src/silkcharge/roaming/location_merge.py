"""A partner CPO's Locations as we receive them (our eMSP role): the OCPI 2.2.1 shapes of
Location, EVSE and Connector, and how a PUT or PATCH of any of the three is merged into what
we hold. Pure: roaming/locations.py reads and writes the rows.

Pushes may arrive out of order (a partner's retries, parallel senders), so every object keeps
the `last_updated` it was last written with in `stamps` ("L" the location's own fields, "E:<uid>"
an EVSE's own fields, "C:<uid>:<id>" a connector), and a write changes an object only if it is
at least as new as what it would replace: an older write is acknowledged and changes nothing it
is older than. A PUT of a whole Location is a snapshot at its `last_updated`: the EVSEs and
connectors it carries are merged one by one by their own `last_updated`, and one it leaves out
is dropped unless it was written after the snapshot. The `last_updated` we serve is the newest
stamp below an object, as OCPI wants parents to follow their children.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from silkcharge.roaming.objects import (
    BUSINESS_DETAILS,
    ENERGY_MIX,
    GEO_LOCATION,
    IMAGE,
    Field,
    Shape,
    boolean,
    check_object,
    cistring,
    datetime_text,
    display_texts,
    enum,
    integer,
    known_fields,
    listing,
    pattern,
    refuse,
    shape_checker,
    string,
    time_zone,
    url,
)
from silkcharge.roaming.wire import ocpi_datetime, parse_ocpi_datetime

STATUSES = ("AVAILABLE", "BLOCKED", "CHARGING", "INOPERATIVE", "OUTOFORDER", "PLANNED", "REMOVED", "RESERVED", "UNKNOWN")
CONNECTOR_TYPES = (
    "CHADEMO", "CHAOJI", *(f"DOMESTIC_{letter}" for letter in "ABCDEFGHIJKLMNO"), "GBT_AC", "GBT_DC",
    "IEC_60309_2_single_16", "IEC_60309_2_three_16", "IEC_60309_2_three_32", "IEC_60309_2_three_64",
    "IEC_62196_T1", "IEC_62196_T1_COMBO", "IEC_62196_T2", "IEC_62196_T2_COMBO", "IEC_62196_T3A",
    "IEC_62196_T3C", "NEMA_5_20", "NEMA_6_30", "NEMA_6_50", "NEMA_10_30", "NEMA_10_50", "NEMA_14_30",
    "NEMA_14_50", "PANTOGRAPH_BOTTOM_UP", "PANTOGRAPH_TOP_DOWN", "TESLA_R", "TESLA_S",
)
CAPABILITIES = (
    "CHARGING_PROFILE_CAPABLE", "CHARGING_PREFERENCES_CAPABLE", "CHIP_CARD_SUPPORT",
    "CONTACTLESS_CARD_SUPPORT", "CREDIT_CARD_PAYABLE", "DEBIT_CARD_PAYABLE", "PED_TERMINAL",
    "REMOTE_START_STOP_CAPABLE", "RESERVABLE", "RFID_READER", "START_SESSION_CONNECTOR_REQUIRED",
    "TOKEN_GROUP_CAPABLE", "UNLOCK_CAPABLE",
)
FACILITIES = (
    "HOTEL", "RESTAURANT", "CAFE", "MALL", "SUPERMARKET", "SPORT", "RECREATION_AREA", "NATURE", "MUSEUM",
    "BIKE_SHARING", "BUS_STOP", "TAXI_STAND", "TRAM_STOP", "METRO_STATION", "TRAIN_STATION", "AIRPORT",
    "PARKING_LOT", "CARPOOL_PARKING", "FUEL_STATION", "WIFI",
)
_CLOCK = pattern(r"([0-1][0-9]|2[0-3]):[0-5][0-9]", 5, "HH:MM")
_PERIOD = shape_checker({"period_begin": Field(datetime_text, True), "period_end": Field(datetime_text, True)})

CONNECTOR: Shape = {
    "id": Field(cistring(36), True),
    "standard": Field(enum(*CONNECTOR_TYPES), True),
    "format": Field(enum("SOCKET", "CABLE"), True),
    "power_type": Field(enum("AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC"), True),
    "max_voltage": Field(integer(0, 100_000), True),
    "max_amperage": Field(integer(0, 100_000), True),
    "max_electric_power": Field(integer(0, 10_000_000)),
    "tariff_ids": Field(listing(cistring(36))),
    "terms_and_conditions": Field(url),
    "last_updated": Field(datetime_text, True),
}
EVSE: Shape = {
    "uid": Field(cistring(36), True),
    "evse_id": Field(cistring(48)),
    "status": Field(enum(*STATUSES), True),
    "status_schedule": Field(listing(shape_checker({
        "period_begin": Field(datetime_text, True),
        "period_end": Field(datetime_text),
        "status": Field(enum(*STATUSES), True),
    }))),
    "capabilities": Field(listing(enum(*CAPABILITIES))),
    "connectors": Field(listing(shape_checker(CONNECTOR), at_least=1), True),
    "floor_level": Field(string(4)),
    "coordinates": Field(shape_checker(GEO_LOCATION)),
    "physical_reference": Field(string(16)),
    "directions": Field(display_texts()),
    "parking_restrictions": Field(listing(enum("EV_ONLY", "PLUGGED", "DISABLED", "CUSTOMERS", "MOTORCYCLES"))),
    "images": Field(listing(shape_checker(IMAGE))),
    "last_updated": Field(datetime_text, True),
}
LOCATION: Shape = {
    "country_code": Field(cistring(2), True),
    "party_id": Field(cistring(3), True),
    "id": Field(cistring(36), True),
    "publish": Field(boolean, True),
    "publish_allowed_to": Field(listing(shape_checker({
        "uid": Field(cistring(36)),
        "type": Field(enum("AD_HOC_USER", "APP_USER", "OTHER", "RFID")),
        "visual_number": Field(string(64)),
        "issuer": Field(string(64)),
        "group_id": Field(cistring(36)),
    }))),
    "name": Field(string(255)),
    "address": Field(string(45), True),
    "city": Field(string(45), True),
    "postal_code": Field(string(10)),
    "state": Field(string(20)),
    "country": Field(pattern(r"[A-Z]{3}", 3, "an ISO 3166-1 alpha-3 code such as KAZ"), True),
    "coordinates": Field(shape_checker(GEO_LOCATION), True),
    "related_locations": Field(listing(shape_checker({
        **GEO_LOCATION, "name": Field(shape_checker({"language": Field(string(2), True), "text": Field(string(512), True)})),
    }))),
    "parking_type": Field(enum(
        "ALONG_MOTORWAY", "PARKING_GARAGE", "PARKING_LOT", "ON_DRIVEWAY", "ON_STREET", "UNDERGROUND_GARAGE",
    )),
    "evses": Field(listing(shape_checker(EVSE))),
    "directions": Field(display_texts()),
    "operator": Field(shape_checker(BUSINESS_DETAILS)),
    "suboperator": Field(shape_checker(BUSINESS_DETAILS)),
    "owner": Field(shape_checker(BUSINESS_DETAILS)),
    "facilities": Field(listing(enum(*FACILITIES))),
    "time_zone": Field(time_zone, True),
    "opening_times": Field(shape_checker({
        "twentyfourseven": Field(boolean, True),
        "regular_hours": Field(listing(shape_checker({
            "weekday": Field(integer(1, 7), True),
            "period_begin": Field(_CLOCK, True),
            "period_end": Field(_CLOCK, True),
        }))),
        "exceptional_openings": Field(listing(_PERIOD)),
        "exceptional_closings": Field(listing(_PERIOD)),
    })),
    "charging_when_closed": Field(boolean),
    "images": Field(listing(shape_checker(IMAGE))),
    "energy_mix": Field(shape_checker(ENERGY_MIX)),
    "last_updated": Field(datetime_text, True),
}


def checked(body: Any, shape: Shape, what: str, *, partial: bool = False) -> dict[str, Any]:
    """`body`, with only the fields OCPI defines, if it is a valid object of `shape` (a PATCH:
    `partial`, but with `last_updated`), else OCPI 2001 naming every problem."""
    problems = check_object(body, shape, partial=partial)
    if partial and isinstance(body, dict) and body.get("last_updated") is None:
        problems.insert(0, "last_updated: required in every PATCH")
    refuse(problems, what)
    return known_fields(body, shape)


def same_id(given: Any, expected: str) -> bool:
    """CiString ids compare case-insensitively."""
    return isinstance(given, str) and given.upper() == expected.upper()


# -- the merge --------------------------------------------------------------------------------


def _evse_key(uid: str) -> str:
    return f"E:{uid.upper()}"


def _connector_key(uid: str, connector_id: str) -> str:
    return f"C:{uid.upper()}:{connector_id.upper()}"


def _when(data: dict[str, Any]) -> datetime:
    return parse_ocpi_datetime(data["last_updated"], "last_updated")


@dataclass
class Held:
    """A location as we hold it: the body we serve and the stamp of each object in it."""

    body: dict[str, Any]
    stamps: dict[str, str]

    def stamp(self, key: str) -> datetime | None:
        text = self.stamps.get(key)
        return parse_ocpi_datetime(text, key) if text else None

    def evse(self, uid: str) -> dict[str, Any] | None:
        return next((e for e in self.body.get("evses") or [] if same_id(e.get("uid"), uid)), None)

    def connector(self, uid: str, connector_id: str) -> dict[str, Any] | None:
        evse = self.evse(uid)
        if evse is None:
            return None
        return next((c for c in evse.get("connectors") or [] if same_id(c.get("id"), connector_id)), None)

    @property
    def last_updated(self) -> datetime:
        return parse_ocpi_datetime(self.body["last_updated"], "last_updated")


def _newer_or_same(incoming: datetime, held: datetime | None) -> bool:
    return held is None or incoming >= held


def _merge_connector(held: Held | None, uid: str, incoming: dict[str, Any], stamps: dict[str, str]) -> dict[str, Any]:
    key = _connector_key(uid, incoming["id"])
    previous = held.connector(uid, incoming["id"]) if held else None
    if previous is not None and not _newer_or_same(_when(incoming), held.stamp(key)):
        stamps[key] = held.stamps[key]
        return previous
    stamps[key] = ocpi_datetime(_when(incoming))
    return dict(incoming)


def _merge_evse(held: Held | None, incoming: dict[str, Any], stamps: dict[str, str]) -> dict[str, Any]:
    """`incoming` (a whole EVSE) over what `held` has of it, object by object."""
    uid = incoming["uid"]
    at = _when(incoming)
    previous = held.evse(uid) if held else None
    key = _evse_key(uid)
    if previous is not None and not _newer_or_same(at, held.stamp(key)):
        own = {k: v for k, v in previous.items() if k != "connectors"}
        stamps[key] = held.stamps[key]
    else:
        own = {k: v for k, v in incoming.items() if k != "connectors"}
        stamps[key] = ocpi_datetime(at)
    connectors = [_merge_connector(held, uid, c, stamps) for c in incoming["connectors"]]
    if previous is not None:
        sent = {c["id"].upper() for c in incoming["connectors"]}
        for connector in previous.get("connectors") or []:
            ckey = _connector_key(uid, connector["id"])
            if connector["id"].upper() not in sent and held.stamp(ckey) and held.stamp(ckey) > at:
                connectors.append(connector)
                stamps[ckey] = held.stamps[ckey]
    return {**own, "connectors": connectors}


def _keep_stamps(held: Held, stamps: dict[str, str], evse: dict[str, Any]) -> None:
    uid = evse["uid"]
    stamps[_evse_key(uid)] = held.stamps[_evse_key(uid)]
    for connector in evse.get("connectors") or []:
        key = _connector_key(uid, connector["id"])
        if key in held.stamps:
            stamps[key] = held.stamps[key]


def _newest_below(held: Held, evse: dict[str, Any]) -> datetime:
    uid = evse["uid"]
    found = [held.stamp(_evse_key(uid))] + [
        held.stamp(_connector_key(uid, c["id"])) for c in evse.get("connectors") or []
    ]
    return max(stamp for stamp in found if stamp is not None)


def put_location(held: Held | None, incoming: dict[str, Any]) -> Held:
    at = _when(incoming)
    stamps: dict[str, str] = {}
    if held is not None and not _newer_or_same(at, held.stamp("L")):
        own = {k: v for k, v in held.body.items() if k != "evses"}
        stamps["L"] = held.stamps["L"]
    else:
        own = {k: v for k, v in incoming.items() if k != "evses"}
        stamps["L"] = ocpi_datetime(at)
    evses = [_merge_evse(held, evse, stamps) for evse in incoming.get("evses") or []]
    if held is not None:
        sent = {e["uid"].upper() for e in incoming.get("evses") or []}
        for evse in held.body.get("evses") or []:
            if evse["uid"].upper() not in sent and _newest_below(held, evse) > at:
                evses.append(evse)
                _keep_stamps(held, stamps, evse)
    return _finished({**own, "evses": evses}, stamps)


def put_evse(held: Held, incoming: dict[str, Any]) -> Held:
    stamps = dict(held.stamps)
    for key in [k for k in stamps if k == _evse_key(incoming["uid"]) or k.startswith(f"C:{incoming['uid'].upper()}:")]:
        del stamps[key]
    merged = _merge_evse(held, incoming, stamps)
    evses = [e for e in held.body.get("evses") or [] if not same_id(e.get("uid"), incoming["uid"])]
    position = next((i for i, e in enumerate(held.body.get("evses") or []) if same_id(e.get("uid"), incoming["uid"])), None)
    evses.insert(len(evses) if position is None else position, merged)
    return _finished({**held.body, "evses": evses}, stamps)


def put_connector(held: Held, uid: str, incoming: dict[str, Any]) -> Held:
    stamps = dict(held.stamps)
    merged = _merge_connector(held, uid, incoming, stamps)
    evses = []
    for evse in held.body.get("evses") or []:
        if same_id(evse.get("uid"), uid):
            connectors = [c for c in evse["connectors"] if not same_id(c.get("id"), incoming["id"])]
            position = next((i for i, c in enumerate(evse["connectors"]) if same_id(c.get("id"), incoming["id"])), None)
            connectors.insert(len(connectors) if position is None else position, merged)
            evse = {**evse, "connectors": connectors}
        evses.append(evse)
    return _finished({**held.body, "evses": evses}, stamps)


def patch_location(held: Held, patch: dict[str, Any]) -> Held:
    """PATCH of the location: its own fields if the patch is as new as they are; EVSEs in it are
    whole EVSEs, each merged by its own last_updated."""
    at = _when(patch)
    result = held
    if _newer_or_same(at, held.stamp("L")):
        own = {k: v for k, v in patch.items() if k not in ("evses", "last_updated")}
        result = Held({**held.body, **own}, {**held.stamps, "L": ocpi_datetime(at)})
    for evse in patch.get("evses") or []:
        result = put_evse(result, evse)
    return _finished(result.body, result.stamps)


def patch_evse(held: Held, uid: str, patch: dict[str, Any]) -> Held:
    at = _when(patch)
    result = held
    key = _evse_key(uid)
    if _newer_or_same(at, held.stamp(key)):
        own = {k: v for k, v in patch.items() if k not in ("connectors", "last_updated")}
        evses = [{**e, **own} if same_id(e.get("uid"), uid) else e for e in held.body["evses"]]
        result = Held({**held.body, "evses": evses}, {**held.stamps, key: ocpi_datetime(at)})
    for connector in patch.get("connectors") or []:
        result = put_connector(result, uid, connector)
    return _finished(result.body, result.stamps)


def patch_connector(held: Held, uid: str, connector_id: str, patch: dict[str, Any]) -> Held:
    at = _when(patch)
    key = _connector_key(uid, connector_id)
    if not _newer_or_same(at, held.stamp(key)):
        return held
    own = {k: v for k, v in patch.items() if k != "last_updated"}
    evses = []
    for evse in held.body["evses"]:
        if same_id(evse.get("uid"), uid):
            evse = {**evse, "connectors": [
                {**c, **own} if same_id(c.get("id"), connector_id) else c for c in evse["connectors"]
            ]}
        evses.append(evse)
    return _finished({**held.body, "evses": evses}, {**held.stamps, key: ocpi_datetime(at)})


def _finished(body: dict[str, Any], stamps: dict[str, str]) -> Held:
    """Every object's last_updated as the newest stamp at or below it."""
    held = Held(body, stamps)
    newest = held.stamp("L")
    evses = []
    for evse in body.get("evses") or []:
        uid = evse["uid"]
        connectors = []
        evse_newest = held.stamp(_evse_key(uid))
        for connector in evse.get("connectors") or []:
            at = held.stamp(_connector_key(uid, connector["id"])) or evse_newest
            connectors.append({**connector, "last_updated": ocpi_datetime(at)})
            evse_newest = max(evse_newest, at)
        evses.append({**evse, "connectors": connectors, "last_updated": ocpi_datetime(evse_newest)})
        newest = max(newest, evse_newest)
    return Held({**body, "evses": evses, "last_updated": ocpi_datetime(newest)}, stamps)
