"""The demo's roaming partner: a second silkcharge, an eMSP in Kyrgyzstan with no chargers of its
own, registered with the demo network over OCPI 2.2.1 as a real partner would be, through both
operator APIs. It pulls the demo network's locations and tariffs, so its drivers' find page
and trip planner show the demo's stations as roaming partner sites, priced in KGS; and it
issues cards to a few of its drivers (`PARTNER_CARDS`), which its tokens module pushes to us,
and which the simulated drivers use at our chargers (`silkcharge simulate --roaming-cards`):
their sessions and CDRs go to the partner, and both Roaming pages show them and settle them.
Once one of them charges, the partner sets a charging profile on the session and our operator
lowers the station's maximum, so both Roaming pages show OCPI charging profiles at work
(`show_charging_profiles`).

Everything is illustrative and says so: the partner's name, and the exchange rates, whose
source is "demo example rate, not a published one" (the figures are round numbers of the
order of 2026's, for the page to show sensible amounts; do not use them)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timezone
from typing import Any

import httpx

OUR_IDENTITY = {"country_code": "KZ", "party_id": "SLK", "role": "CPO",
                "business_name": "SilkCharge Demo", "website": "https://example.org/silkcharge-demo"}
PARTNER_IDENTITY = {"country_code": "KG", "party_id": "DPE", "role": "EMSP",
                    "business_name": "Demo partner eMSP (Kyrgyzstan)"}
PARTNER_CURRENCY = "KGS"
EXAMPLE_RATES = {"KZT": "0.17", "UZS": "0.0068", "TJS": "8.0", "TMT": "25", "CNY": "12"}
"""1 unit of each demo tariff currency in KGS: examples, not published rates."""
RATE_SOURCE = "demo example rate, not a published one"
PARTNER_CARDS = [{"token": f"KG-DPE-{n:04d}", "type": "ISO14443", "label": "demo partner driver card (synthetic)"}
                 for n in range(1, 6)]
"""Cards the partner issues to its drivers; synthetic uids."""


class RoamingSetupFailed(RuntimeError):
    """A step of the demo's roaming set-up was refused; the message says which and why."""


def _body(answer: httpx.Response, step: str) -> Any:
    if answer.status_code >= 300:
        raise RoamingSetupFailed(f"{step}: {answer.status_code} {answer.text[:300]}")
    return answer.json()


async def until_listening(api: httpx.AsyncClient, tries: int = 240) -> None:
    for _ in range(tries):
        try:
            await api.get("/api/v1/health")
            return
        except httpx.TransportError:
            await asyncio.sleep(0.25)
    raise RoamingSetupFailed(f"{api.base_url} did not start listening")


async def set_up_roaming(ours: httpx.AsyncClient, theirs: httpx.AsyncClient) -> dict[str, Any]:
    """Register the partner with us (we invite, it registers), enter its example rates, issue its
    drivers' cards (pushed to us as OCPI tokens) and pull our locations and tariffs into it once
    (its periodic pull keeps them current). Returns the pull's report, with the cards."""
    _body(await ours.put("/api/v1/roaming/identities", json=[OUR_IDENTITY]), "our OCPI identity")
    _body(await theirs.put("/api/v1/roaming/identities", json=[PARTNER_IDENTITY]), "the partner's OCPI identity")
    invitation = _body(await ours.post("/api/v1/roaming/partners/invite",
                                       json={"name": PARTNER_IDENTITY["business_name"]}), "the invitation")
    partner = _body(await theirs.post("/api/v1/roaming/partners/register", json={
        "name": OUR_IDENTITY["business_name"], "versions_url": invitation["versions_url"],
        "credentials_token": invitation["credentials_token"]}), "the partner's registration")
    for currency, rate in EXAMPLE_RATES.items():
        _body(await theirs.post("/api/v1/exchange-rates", json={
            "from_currency": currency, "to_currency": PARTNER_CURRENCY, "rate": rate,
            "valid_on": date.today().isoformat(), "source": RATE_SOURCE}), f"the example {currency} rate")
    for card in PARTNER_CARDS:
        answer = await theirs.post("/api/v1/tokens", json=card)
        if answer.status_code != 409:  # 409: issued by an earlier run of the demo
            _body(answer, f"the partner's card {card['token']}")
    report = _body(await theirs.post(f"/api/v1/roaming/partners/{partner['id']}/pull"), "the first pull")
    await until_cards_delivered(theirs, partner["id"])
    return {**report, "cards": [card["token"] for card in PARTNER_CARDS]}


async def until_cards_delivered(theirs: httpx.AsyncClient, partner_id: int, tries: int = 480) -> None:
    """Wait until the partner's outbox has pushed every card to us: before that our chargers
    would refuse them (the demo's drivers start charging only after this)."""
    for _ in range(tries):
        box = _body(await theirs.get("/api/v1/roaming/outbox", params={"partner_id": partner_id, "limit": 1000}),
                    "the partner's outbox")
        cards = [row for row in box["rows"] if row["module"] == "tokens"]
        refused = [row for row in cards if row["state"] == "parked"]
        if refused:
            raise RoamingSetupFailed(f"we refused the partner's card {refused[0]['object_key']}: "
                                     f"{refused[0]['last_error']}")
        if len([row for row in cards if row["state"] == "sent"]) >= len(PARTNER_CARDS):
            return
        await asyncio.sleep(0.25)
    raise RoamingSetupFailed("the partner's cards did not reach us")


PARTNER_LIMIT_A = 32
"""The limit the partner sets on its driver's session (OCPI SetChargingProfile), in A."""
STATION_MAXIMUM_A = 16
"""The station maximum our operator then sets (OCPP ChargingStationMaxProfile), in A: below the
partner's limit, so the session's ActiveChargingProfile changes and is pushed to the partner."""
STATION_MAXIMUM_ID = 1
"""The id of that profile at the station (load management and depot plans use 10000 and up)."""


async def show_charging_profiles(ours: httpx.AsyncClient, theirs: httpx.AsyncClient, *, wait_seconds: float = 600,
                                 every: float = 2.0, tries: int = 3) -> dict[str, Any]:
    """Show OCPI charging profiles at work, through both operator APIs, on a real session: once
    one of the partner's drivers charges at one of our stations outside load management (whose
    sites set their sessions' limits themselves and refuse a partner's), the partner (an eMSP)
    sets a charging profile on the session (`PARTNER_LIMIT_A`); once our charger accepted it, our
    operator lowers that station's maximum (`STATION_MAXIMUM_A`), and our platform pushes the
    session's ActiveChargingProfile to the partner (roaming/profile_push.py). Every wait is
    bounded: RoamingSetupFailed says which step did not come, with `tries` sessions tried at most
    (a session may end while it is shown). Returns what was done: session, station, the
    partner's request id."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    partners = [p for p in _body(await theirs.get("/api/v1/roaming/partners"), "the partner's partners")
                if p["state"] == "registered"]
    if not partners:
        raise RoamingSetupFailed("the partner is not registered with us")
    partner_id = partners[0]["id"]
    managed = await _managed_station_sites(ours)
    tried: set[str] = set()
    why = "no partner driver charged at one of our stations outside load management"
    while loop.time() < deadline and len(tried) < tries:
        found = await _partner_session(ours, theirs, managed, tried)
        if found is None:
            await asyncio.sleep(every)
            continue
        session_id, station_id = found
        tried.add(session_id)
        sent = await theirs.post("/api/v1/roaming/charging-profiles", json={
            "partner_id": partner_id, "session_id": session_id, "request": "SET", "charging_profile": {
                "charging_rate_unit": "A", "charging_profile_period": [{"start_period": 0, "limit": PARTNER_LIMIT_A}]}})
        request = _body(sent, "the partner's SetChargingProfile")
        if request["response"] != "ACCEPTED":
            why = f"we answered the partner's SET on session {session_id} {request['response']}"
            continue
        result = await _until(lambda: _result(theirs, request["id"]), deadline, every)
        if result != "ACCEPTED":
            why = f"the partner's SET on session {session_id} came back {result or 'with no result in time'}"
            continue
        now = datetime.now(timezone.utc).isoformat()
        lowered = _body(await ours.post(f"/api/v1/smart/stations/{station_id}/profiles", json={"evse_id": 0, "profile": {
            "id": STATION_MAXIMUM_ID, "stack_level": 0, "purpose": "ChargingStationMaxProfile", "kind": "Absolute",
            "schedule": {"rate_unit": "A", "start_schedule": now,
                         "periods": [{"start_period": 0, "limit": STATION_MAXIMUM_A}]}}}),
            f"our operator's maximum for {station_id}")
        if lowered["status"] != "Accepted":
            raise RoamingSetupFailed(f"{station_id} answered our station maximum {lowered['status']}")
        pushed = await _until(lambda: _pushed(theirs, partner_id, session_id), deadline, every)
        if pushed is None:
            raise RoamingSetupFailed(f"the active profile of session {session_id} did not reach the partner in time")
        return {"session_id": session_id, "station_id": station_id, "request_id": request["id"],
                "partner_limit_a": PARTNER_LIMIT_A, "station_maximum_a": STATION_MAXIMUM_A}
    raise RoamingSetupFailed(why)


async def _partner_session(ours: httpx.AsyncClient, theirs: httpx.AsyncClient, managed: set[int],
                           tried: set[str]) -> tuple[str, str] | None:
    """The newest session of a partner's driver charging at one of our stations outside load
    management, as both sides list it (the partner learns of it from our Sessions push): its
    OCPI Session id and our station; None while there is none."""
    theirs_active = {r["session_id"] for r in _body(await theirs.get("/api/v1/roaming/sessions"), "the partner's sessions")
                     if r["direction"] == "ours_at_theirs" and r["status"] == "ACTIVE"}
    for row in _body(await ours.get("/api/v1/roaming/sessions"), "our roaming sessions"):
        if row["direction"] != "theirs_at_ours" or row["status"] != "Active" or not row["evse"]:
            continue
        if row["session_id"] in tried or row["session_id"] not in theirs_active:
            continue
        station_id = row["evse"].rsplit("*", 1)[0]
        station = _body(await ours.get(f"/api/v1/stations/{station_id}"), f"our station {station_id}")
        if station["site_id"] not in managed:
            return row["session_id"], station_id
    return None


async def _managed_station_sites(ours: httpx.AsyncClient) -> set[int]:
    """The ids of our sites under load management: those the API lists, and those the demo puts
    there (business.json), which its smart-charging set-up may not have reached yet."""
    from silkcharge.demo.business import load_business

    business = load_business()
    codes = {business["managed_site"]["site"], business["depot"]["site"]}
    codes |= {s["site"] for s in _body(await ours.get("/api/v1/smart/sites"), "our managed sites")}
    return {s["id"] for s in _body(await ours.get("/api/v1/sites"), "our sites") if s["code"] in codes}


async def _result(theirs: httpx.AsyncClient, request_id: int) -> str | None:
    return _body(await theirs.get(f"/api/v1/roaming/charging-profiles/{request_id}"), "the partner's request")["result"]


async def _pushed(theirs: httpx.AsyncClient, partner_id: int, session_id: str) -> dict[str, Any] | None:
    answer = await theirs.get(f"/api/v1/roaming/charging-profiles/pushed/{partner_id}/{session_id}")
    return None if answer.status_code == 404 else _body(answer, "the profile pushed to the partner")


async def _until(check, deadline: float, every: float) -> Any:
    """`check()` until it gives something, or None once the deadline has passed."""
    loop = asyncio.get_running_loop()
    while True:
        value = await check()
        if value is not None or loop.time() >= deadline:
            return value
        await asyncio.sleep(every)
