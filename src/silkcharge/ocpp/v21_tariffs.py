"""silkcharge tariffs as OCPP 2.1 Tariff objects, and a 2.1 station's costDetails read back.

The platform's tariffs follow OCPI (domain/tariffs.py), and OCPP 2.1's TariffType was drawn
from the same model, so the mapping is mostly names and units:

| OCPI (silkcharge)                     | OCPP 2.1                                       |
|---------------------------------------|------------------------------------------------|
| ENERGY price per kWh                  | energy.prices[].priceKwh                       |
| TIME price per hour (charging)        | chargingTime.prices[].priceMinute (÷ 60)       |
| PARKING_TIME price per hour           | idleTime.prices[].priceMinute (÷ 60)           |
| FLAT                                  | fixedFee.prices[].priceFixed                   |
| RESERVATION element: TIME / FLAT      | reservationTime / reservationFixed             |
| restrictions start/end_time, dates    | conditions startTimeOfDay/endTimeOfDay,        |
|   (end_date exclusive in both)        |   validFromDate/validToDate                    |
| day_of_week                           | conditions dayOfWeek                           |
| min/max_kwh, _power (kW), _current    | minEnergy/maxEnergy (Wh), minPower/maxPower (W)|
| min/max_duration (s)                  | minTime/maxTime (s)                            |
| price component vat                   | taxRates [{type "VAT", tax}] per dimension     |
| min_price / max_price                 | minCost / maxCost                              |
| start_date_time                       | validFrom                                      |

In both, each dimension is priced by the first element (price) whose restrictions
(conditions) hold. What 2.1 cannot say is refused with the reason, never sent changed:
different VAT rates within one dimension, a fixed fee restricted by energy, power or duration
(2.1's fixed-fee conditions know only time, date and weekday), and an end date-time (2.1
tariffs have none; clear the tariff instead). Step sizes are not carried (2.1 has none): the
station's cost can differ from the platform's by less than a step, which the comparison
tolerates. A per-hour price becomes a per-minute price rounded down to six decimals, so the
station never charges more than the platform. No-show fees (RESERVATION_EXPIRES) stay with the
platform: no transaction runs on the station for them.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

from silkcharge.domain.clock import parse_ocpp, to_ocpp
from silkcharge.domain.commands import CommandNotSupported
from silkcharge.domain.local_cost import StationCost
from silkcharge.ocpp.adapter import ocpp_number

_DIMENSIONS = {"ENERGY": "energy", "TIME": "chargingTime", "PARKING_TIME": "idleTime", "FLAT": "fixedFee"}
_RESERVATION = {"TIME": "reservationTime", "FLAT": "reservationFixed"}
_PER_MINUTE = Decimal("0.000001")
_FIXED_CONDITIONS = frozenset({"startTimeOfDay", "endTimeOfDay", "dayOfWeek", "validFromDate", "validToDate"})


def tariff_21(body: dict[str, Any]) -> dict[str, Any]:
    """The 2.1 TariffType (camelCase, as on the wire) of an OCPI tariff body whose VAT rates
    are fixed numbers (`Tariff.to_ocpi(vat_on=...)`). CommandNotSupported names every part
    2.1 cannot carry."""
    problems: list[str] = []
    if body.get("end_date_time"):
        problems.append("end_date_time: a 2.1 tariff has no end; clear it from the station when it ends")
    prices: dict[str, list[dict[str, Any]]] = {}
    rates: dict[str, set[Decimal]] = {}
    for index, element in enumerate(body["elements"]):
        restrictions = element.get("restrictions") or {}
        kind = restrictions.get("reservation")
        if kind == "RESERVATION_EXPIRES":
            continue
        conditions = _conditions(restrictions)
        for component in element["price_components"]:
            dimension = (_RESERVATION if kind else _DIMENSIONS).get(component["type"])
            if dimension is None:
                problems.append(f"elements[{index}]: a reservation element prices {component['type']}")
                continue
            fixed = component["type"] == "FLAT"
            if fixed and set(conditions) - _FIXED_CONDITIONS:
                problems.append(
                    f"elements[{index}]: a FLAT fee restricted by {', '.join(sorted(set(conditions) - _FIXED_CONDITIONS))} "
                    "cannot be said in 2.1 (fixed-fee conditions know only time of day, dates and weekdays)")
                continue
            prices.setdefault(dimension, []).append(_price(component, conditions))
            rates.setdefault(dimension, set()).add(Decimal(component.get("vat") or 0))
    for dimension, found in rates.items():
        if len(found) > 1:
            problems.append(f"{dimension}: VAT rates {sorted(found)} differ between elements; 2.1 has one per dimension")
    if problems:
        raise CommandNotSupported("this tariff cannot be sent as an OCPP 2.1 tariff: " + "; ".join(problems))
    tariff: dict[str, Any] = {"tariffId": body["id"], "currency": body["currency"]}
    for dimension, listed in prices.items():
        tariff[dimension] = {"prices": listed, "taxRates": [{"type": "VAT", "tax": ocpp_number(rates[dimension].pop())}]}
    for ours, theirs in (("min_price", "minCost"), ("max_price", "maxCost")):
        if body.get(ours):
            tariff[theirs] = _bound(body[ours])
    if body.get("start_date_time"):
        tariff["validFrom"] = to_ocpp(parse_ocpp(str(body["start_date_time"])))
    return tariff


def _price(component: dict[str, Any], conditions: dict[str, Any]) -> dict[str, Any]:
    price = Decimal(component["price"])
    kind = component["type"]
    if kind == "ENERGY":
        entry: dict[str, Any] = {"priceKwh": ocpp_number(price)}
    elif kind == "FLAT":
        entry = {"priceFixed": ocpp_number(price)}
    else:
        entry = {"priceMinute": ocpp_number((price / 60).quantize(_PER_MINUTE, rounding=ROUND_DOWN).normalize())}
    if conditions:
        entry["conditions"] = conditions
    return entry


def _conditions(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ours, theirs in (("start_time", "startTimeOfDay"), ("end_time", "endTimeOfDay"),
                         ("start_date", "validFromDate"), ("end_date", "validToDate")):
        if r.get(ours) is not None:
            out[theirs] = str(r[ours])
    if r.get("day_of_week"):
        out["dayOfWeek"] = [day.capitalize() for day in r["day_of_week"]]
    for ours, theirs, scale in (("min_kwh", "minEnergy", 1000), ("max_kwh", "maxEnergy", 1000),
                                ("min_power", "minPower", 1000), ("max_power", "maxPower", 1000),
                                ("min_current", "minCurrent", 1), ("max_current", "maxCurrent", 1)):
        if r.get(ours) is not None:
            out[theirs] = ocpp_number((Decimal(r[ours]) * scale).normalize())
    for ours, theirs in (("min_duration", "minTime"), ("max_duration", "maxTime")):
        if r.get(ours) is not None:
            out[theirs] = int(r[ours])
    return out


def _bound(price: dict[str, Any]) -> dict[str, Any]:
    out = {"exclTax": ocpp_number(Decimal(price["excl_vat"]))}
    if price.get("incl_vat") is not None:
        out["inclTax"] = ocpp_number(Decimal(price["incl_vat"]))
    return out


def station_cost(event: str, at: Any, details: dict[str, Any], tariff_id: str | None) -> StationCost:
    """A 2.1 TransactionEvent's costDetails in the neutral shape."""
    total = details.get("totalCost") or {}
    usage = details.get("totalUsage") or {}
    amounts = total.get("total") or {}
    failure = details.get("failureReason") or ("the station failed to calculate" if details.get("failureToCalculate") else None)
    return StationCost(
        reported_at=at,
        event=event,
        currency=total.get("currency"),
        total_excl_vat=_exact(amounts.get("exclTax")),
        total_incl_vat=_exact(amounts.get("inclTax")),
        type_of_cost=total.get("typeOfCost"),
        tariff_id=tariff_id or next((p.get("tariffId") for p in details.get("chargingPeriods", []) if p.get("tariffId")), None),
        energy_wh=_exact(usage.get("energy")),
        charging_seconds=usage.get("chargingTime"),
        idle_seconds=usage.get("idleTime"),
        failure_reason=failure,
    )


def _exact(value: Any) -> Decimal | None:
    """A JSON number as the Decimal of its shortest text (0.1 stays 0.1)."""
    return None if value is None else Decimal(repr(value) if isinstance(value, float) else str(value))
