"""What `silkcharge demo` adds to the seed network (silkcharge.demo): illustrative tariffs that
respect the caps, a load-managed site, a taxi depot with a plan, and a week of priced history,
made through the platform's own services and API."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from silkcharge.cli import DEMO_TOKENS
from silkcharge.data.seed import load_seed_network
from silkcharge.demo.business import load_business, publish_tariffs, set_up_smart_charging
from silkcharge.demo.history import HISTORY_PREFIX, write_history
from silkcharge.services.seeding import seed_network

NOW = datetime(2026, 12, 3, 9, 30, tzinfo=timezone.utc)  # 14:30 in Almaty and Dushanbe


async def test_every_operator_gets_an_illustrative_tariff_in_its_currency_within_the_caps(platform, api):
    await seed_network(platform.sessions, load_seed_network())
    business = load_business()
    published = await publish_tariffs(platform.billing, business)
    operators = {o["code"]: o for o in load_seed_network()["operators"]}
    assert {t["operator"] for t in business["tariffs"]} == set(operators)
    tariffs = (await api.get("/api/v1/tariffs")).json()
    assert {t["code"] for t in tariffs} == set(published)
    for tariff in tariffs:
        body = tariff["tariff"]
        operator = next(o for o in operators.values() if body["country_code"] == o["country"])
        assert body["currency"] == operator["currency"]
        assert body["tariff_alt_text"][0]["text"].startswith("Illustrative demo price")
    # no cap suspends any of them (Almaty: at most 100 KZT/kWh incl. VAT)
    assert (await api.get("/api/v1/tariff-suspensions")).json() == []
    assert await publish_tariffs(platform.billing, business) == []  # a second demo start adds nothing


async def test_a_week_of_history_is_started_stopped_and_priced_by_the_platform(platform, api):
    await seed_network(platform.sessions, load_seed_network(), tokens=DEMO_TOKENS)
    await publish_tariffs(platform.billing, load_business())
    stations = ["KZ-ALA-001-A", "KZ-ALA-001-C", "TJ-DUS-001-A", "UZ-TAS-001-B", "CN-AKH-001-A"]
    tokens = [t["token"] for t in DEMO_TOKENS[:5]]
    report = await write_history(platform, stations, tokens, now=NOW)
    assert report.sessions > 10 and report.priced == report.sessions
    sessions = (await api.get("/api/v1/transactions", params={"limit": 1000})).json()
    history = [s for s in sessions if s["station_tx_id"].startswith(HISTORY_PREFIX)]
    assert len(history) == report.sessions
    assert {s["state"] for s in history} == {"Ended"}
    assert min(s["started_at"] for s in history) >= (NOW - timedelta(days=8)).isoformat()[:10]
    assert {s["token_status"] for s in history} == {"Accepted"}
    days = Counter(s["started_at"][:10] for s in history)
    assert len(days) >= 6  # a week, not one afternoon
    cdrs = (await api.get("/api/v1/cdrs", params={"limit": 1000})).json()
    currencies = {c["currency"] for c in cdrs}
    assert {"KZT", "TJS", "UZS"} <= currencies
    assert all(Decimal(c["total_incl_vat"]) > 0 for c in cdrs)
    assert (await api.get("/api/v1/plausibility/flags")).json() == []
    again = await write_history(platform, stations, tokens, now=NOW)
    assert again.sessions == 0  # the demo's restart keeps the week it has


async def test_the_managed_site_and_the_taxi_depot_are_set_up_and_planned(platform, api):
    await seed_network(platform.sessions, load_seed_network(), tokens=DEMO_TOKENS)
    business = load_business()
    plan = await set_up_smart_charging(api, business, now=NOW)
    sites = {s["site"]: s for s in (await api.get("/api/v1/smart/sites")).json()}
    managed, depot = business["managed_site"], business["depot"]
    assert sites[managed["site"]]["circuits"] == len(managed["circuits"])
    assert sites[managed["site"]]["evses"] == len(managed["evses"])
    assert sites[depot["site"]]["depot"] is True
    assert plan["feasible"] is True
    assert set(plan["vehicles"]) == {v["code"] for v in depot["vehicles"]}


async def test_seeded_stations_the_demo_does_not_simulate_are_planned_and_raise_no_alert(settings, api):
    from silkcharge.cli import _demo_business

    await seed_network(api._transport.app.state.platform.sessions, load_seed_network(), tokens=DEMO_TOKENS)
    planned = ["KG-BIS-001-A", "KG-BIS-001-B"]
    await _demo_business(settings, [], planned=planned)
    status = (await api.get("/api/v1/status")).json()
    assert status["summary"] == {"offline": 120, "planned": 2}
    assert {sid for sid, s in status["stations"].items() if s["planned"]} == set(planned)
    assert (await api.get("/api/v1/stations/KG-BIS-001-A")).json()["planned"] is True
    # a planned station is not in service: analytics leave it out
    day = {"start": (NOW - timedelta(days=1)).isoformat(), "end": NOW.isoformat(), "group_by": "station"}
    summary = (await api.get("/api/v1/analytics/summary", params=day)).json()
    assert not {g["group"] for g in summary["groups"]} & set(planned)


async def test_the_demo_has_a_person_per_role_and_a_second_tenant_the_regulator_sees(settings, api):
    from silkcharge.cli import _demo_business

    await seed_network(api._transport.app.state.platform.sessions, load_seed_network(), tokens=DEMO_TOKENS)
    _, people = await _demo_business(settings, [], planned=[])
    roles = {}
    for person in people:
        login = await api.post("/api/v1/access/login", json={"email": person["email"], "password": person["password"]},
                               headers={"X-API-Key": ""})
        assert login.status_code == 200, (person["email"], login.text)
        roles[person["role"]] = login.json()["token"]
    assert {"operator_admin", "technician", "finance", "regulator", "viewer"} <= set(roles)
    second = load_business()["second_tenant"]["operator"]["code"]
    as_regulator = {"Authorization": f"Bearer {roles['regulator']}", "X-API-Key": ""}
    compliance = (await api.get("/api/v1/cap-compliance", headers=as_regulator)).json()
    assert {(row["tenant"], row["operator"]) for row in compliance} == {("default", "KZ-SLK"), ("almaty-fast", second)}
    assert all(row["violations"] == 0 for row in compliance)  # the demo's prices keep the cap
    # the legacy demo key is still tenant 1's admin: it does not see the second tenant's network
    operators = {o["code"] for o in (await api.get("/api/v1/operators")).json()}
    assert "KZ-SLK" in operators and second not in operators
