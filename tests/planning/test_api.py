"""The planning API analyses the stations in the platform's store."""

from __future__ import annotations

from silkcharge.data.seed import load_seed_network
from silkcharge.services.seeding import seed_network


async def test_planning_endpoints_on_the_seeded_store(api, platform):
    await seed_network(platform.sessions, load_seed_network())
    corridors = (await api.get("/api/v1/planning/corridors")).json()
    assert "almaty-bishkek" in {c["id"] for c in corridors}

    response = await api.get("/api/v1/planning/coverage",
                             params={"corridor": "almaty-bishkek", "standard": "ccs2",
                                     "rule": "winter"})
    assert response.status_code == 200
    body = response.json()
    assert "illustrative" in body["note"]
    directions = {c["direction"] for c in body["coverage"]}
    assert directions == {"forward", "reverse"}
    assert all(c["standard"] == "ccs2" for c in body["coverage"])
    assert body["coverage"][0]["pools"]

    # Almaty-Astana has gaps the seed's sites leave (Bishkek-Osh no longer does, with its
    # sites on the real mountain road).
    siting = await api.post("/api/v1/planning/siting",
                            json={"budget": 2, "corridors": ["almaty-astana"]})
    assert siting.status_code == 200
    result = siting.json()["result"]
    assert result["chosen"] and result["covered_weight"] >= result["baseline_weight"]

    adequacy = (await api.get("/api/v1/planning/adequacy")).json()
    kz = next(a for a in adequacy["areas"] if a["area"] == "KZ")
    assert kz["evs"] == 12655 and float(kz["network_kw"]) > 0


async def test_planning_bad_input_is_a_clear_422(api):
    bad = await api.get("/api/v1/planning/coverage", params={"corridor": "nowhere"})
    assert bad.status_code == 422 and "unknown corridor" in bad.text
    zero = await api.post("/api/v1/planning/siting", json={"budget": 0})
    assert zero.status_code == 422 and "at least one site" in zero.text
    off = await api.post("/api/v1/planning/siting", json={
        "budget": 1, "corridors": ["almaty-bishkek"],
        "plots": [{"id": "sea", "name": "Caspian", "lat": 41.0, "lon": 51.0}]})
    assert off.status_code == 422 and "road network" in off.text


async def test_planning_needs_the_api_key(api):
    response = await api.get("/api/v1/planning/corridors", headers={"X-API-Key": "wrong"})
    assert response.status_code == 401
