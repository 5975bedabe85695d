"""The demo's business (data/seed/business.json): tariffs for every demo operator, a site under
load management and a Dushanbe taxi depot with a plan, a second small tenant and an account per
role to try the console with. Everything is illustrative and says so:
each tariff's `tariff_alt_text` starts with the file's `illustrative_label`.

Tariffs go through `BillingService.publish` (the same validation and price-cap checks as
`POST /tariffs`); the smart-charging site and the depot through the operator API, as an
operator would set them up."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import httpx


def load_business() -> dict[str, Any]:
    text = resources.files("silkcharge.data.seed").joinpath("business.json").read_text("utf-8")
    return json.loads(text, parse_float=Decimal)


def tariff_body(item: dict[str, Any], label: str, dc_min_power_kw: str) -> dict[str, Any]:
    """An OCPI 2.2.1 tariff with VAT-inclusive energy prices: the DC price from
    `dc_min_power_kw` of charging power on, the AC price below it."""
    def energy(price: str) -> dict[str, Any]:
        return {"type": "ENERGY", "price": str(price), "step_size": 1}

    silkcharge: dict[str, Any] = {"vat_included": True}
    if item.get("token_groups"):
        silkcharge["token_groups"] = list(item["token_groups"])
    return {
        "currency": item["currency"],
        "type": "REGULAR",
        "tariff_alt_text": [{"language": "en", "text": f"{label}. DC {item['dc_per_kwh_incl_vat']} / "
                             f"AC {item['ac_per_kwh_incl_vat']} {item['currency']} per kWh incl. VAT."}],
        "elements": [
            {"price_components": [energy(item["dc_per_kwh_incl_vat"])],
             "restrictions": {"min_power": str(dc_min_power_kw)}},
            {"price_components": [energy(item["ac_per_kwh_incl_vat"])]},
        ],
        "silkcharge": silkcharge,
    }


async def publish_tariffs(billing, business: dict[str, Any], items: list[dict[str, Any]] | None = None) -> list[str]:
    """Publish every demo tariff (or those of `items`) not yet published; return the codes
    published now."""
    from silkcharge.services.billing import TariffRefused

    published = []
    for item in business["tariffs"] if items is None else items:
        body = tariff_body(item, business["illustrative_label"], business["dc_min_power_kw"])
        try:
            await billing.publish(item["code"], item["operator"], None, body)
        except TariffRefused as exc:
            if any("already exists" in problem for problem in exc.problems):
                continue
            raise
        published.append(item["code"])
    return published


async def set_up_tenants_and_people(platform, business: dict[str, Any]) -> list[dict[str, Any]]:
    """The second tenant (a small Almaty operator, its sites and its tariff: a regulator then
    sees two tenants' operators under the Almaty cap) and the demo's people, one account per
    role, made as a platform administrator would. Returns the accounts (with their demo
    passwords, for the demo to print). Safe to run again."""
    from silkcharge.domain.roles import Role
    from silkcharge.services.access import AccessConflict, Principal, UnknownAccess
    from silkcharge.services.seeding import seed_network

    access = platform.access
    second = business["second_tenant"]
    try:
        tenant = await access.tenant_by_code(second["code"])
    except UnknownAccess:
        tenant = await access.create_tenant(second["code"], second["name"])
    await seed_network(platform.sessions, {"operators": [second["operator"]], "sites": second["sites"]},
                       tenant=tenant.id)
    await publish_tariffs(platform.billing, business, [second["tariff"]])
    demo = Principal("key", None, "silkcharge demo", Role.PLATFORM_ADMIN, None)
    accounts = business["people"]["accounts"]
    for person in accounts:
        tenant_id = None if person["tenant"] is None else (await access.tenant_by_code(person["tenant"])).id
        try:
            await access.create_account(demo, person["email"], person["name"], person["password"],
                                        Role(person["role"]), tenant_id)
        except AccessConflict:
            continue
    return accounts


async def set_up_smart_charging(api: httpx.AsyncClient, business: dict[str, Any],
                                now: datetime | None = None) -> dict[str, Any]:
    """Put the managed site and the depot under load management through the operator API, give
    the depot its taxis (one of them an opted-in V2G car on the OCPP 2.1 bidirectional charger)
    and its time-of-use price, and plan tonight: the V2G taxi gives energy back at the evening
    peak and charges again at night. Returns the depot plan's answer."""
    now = now or datetime.now(timezone.utc)
    for key in ("managed_site", "depot"):
        site = business[key]
        body: dict[str, Any] = {"grid_limit_kw": str(site["grid_limit_kw"]), "depot": key == "depot"}
        if site.get("base_load_w"):
            body["base_load_w"] = str(site["base_load_w"])
        if site.get("prices"):  # the depot's (illustrative) time-of-use price and battery wear
            body["prices"] = {k: v for k, v in site["prices"].items() if k != "note"}
        await _ok(api.put(f"/api/v1/smart/sites/{site['site']}", json=body))
        for circuit in site["circuits"]:
            await _ok(api.put(f"/api/v1/smart/sites/{site['site']}/circuits/{circuit['code']}", json={
                "limit_a": str(circuit["limit_a"]), "name": circuit.get("name"),
                "parent": circuit.get("parent")}))
        for evse in site["evses"]:
            await _ok(api.put(f"/api/v1/smart/stations/{evse['station_id']}/evses/{evse['evse_id']}", json={
                "circuit": evse["circuit"], "max_current_a": str(evse["max_current_a"]),
                "phases": evse.get("phases", 3)}))
    depot = business["depot"]
    zone = ZoneInfo((await _ok(api.get(f"/api/v1/sites/{depot['site']}")))["timezone"])
    evening = _tonight(now, zone)
    vehicles = []
    for v in depot["vehicles"]:
        arrival = _at(evening, v["arrive"], zone)
        departure = _at(evening, v["depart"], zone)
        if departure <= arrival:
            departure += timedelta(days=1)
        vehicles.append({
            "code": v["code"], "station_id": v["station_id"], "evse_id": v["evse_id"],
            "id_token": v["id_token"], "arrival": arrival.isoformat(), "departure": departure.isoformat(),
            "max_power_kw": str(v["max_power_kw"]), "battery_kwh": str(v["battery_kwh"]),
            "soc": str(v["soc"]), "target_soc": str(v["target_soc"]),
        })
        if v.get("v2g"):  # opted in to V2G: the plan may discharge it down to min_soc while parked
            vehicles[-1] |= {"v2g": True, "max_discharge_kw": str(v["max_discharge_kw"]), "min_soc": str(v["min_soc"])}
    await _ok(api.put(f"/api/v1/smart/sites/{depot['site']}/depot/vehicles", json=vehicles))
    start = min(datetime.fromisoformat(v["arrival"]) for v in vehicles)
    end = max(datetime.fromisoformat(v["departure"]) for v in vehicles)
    return await _ok(api.post(f"/api/v1/smart/sites/{depot['site']}/depot/plan", json={
        "start": start.astimezone(timezone.utc).isoformat(),
        "end": end.astimezone(timezone.utc).isoformat(), "push": True}))


def parked_taxis(business: dict[str, Any]) -> list:
    """The depot's opted-in V2G taxis as the simulator parks them on their chargers
    (`silkcharge simulate --depot-taxis`): a bidirectional car with the battery, state of charge,
    powers and minimum state of charge of business.json, so a pushed depot plan can make it give
    energy back."""
    from silkcharge.sim.fleet import ParkedCar
    from silkcharge.sim.meter import Ev

    parked = []
    for v in business["depot"]["vehicles"]:
        if not v.get("v2g"):
            continue
        battery_wh = Decimal(str(v["battery_kwh"])) * 1000
        soc, target = Decimal(str(v["soc"])) * 100, Decimal(str(v["target_soc"])) * 100
        car = Ev(battery_wh, soc, battery_wh * (target - soc) / 100, Decimal(str(v["max_power_kw"])) * 1000,
                 max_discharge_w=Decimal(str(v["max_discharge_kw"])) * 1000, min_soc=Decimal(str(v["min_soc"])) * 100)
        parked.append(ParkedCar(v["station_id"], int(v["evse_id"]), v["id_token"], car))
    return parked


def _tonight(now: datetime, zone: ZoneInfo) -> date:
    """The local evening the depot plans for: today's, or tomorrow's once today's is past."""
    local = now.astimezone(zone)
    return local.date() if local.hour < 18 else local.date() + timedelta(days=1)


def _at(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), zone)


async def _ok(answer) -> Any:
    response = await answer
    if response.status_code >= 400:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: "
                           f"{response.status_code} {response.text[:300]}")
    return response.json()
