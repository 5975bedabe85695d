"""The demo's roaming partner: a second silkcharge, an eMSP in Kyrgyzstan with no chargers of its
own, registered with the demo network over OCPI 2.2.1 as a real partner would be, through both
operator APIs. It pulls the demo network's locations and tariffs, so its drivers' find page
and trip planner show the demo's stations as roaming partner sites, priced in KGS; and it
issues cards to a few of its drivers (`PARTNER_CARDS`), which its tokens module pushes to us,
and which the simulated drivers use at our chargers (`silkcharge simulate --roaming-cards`):
their sessions and CDRs go to the partner, and both Roaming pages show them and settle them.

Everything is illustrative and says so: the partner's name, and the exchange rates, whose
source is "demo example rate, not a published one" (the figures are round numbers of the
order of 2026's, for the page to show sensible amounts; do not use them)."""

from __future__ import annotations

import asyncio
from datetime import date
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
