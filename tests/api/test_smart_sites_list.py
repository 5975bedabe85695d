"""The smart-charging lists the console reads: the managed sites and a depot's vehicles."""

from __future__ import annotations

from tests.e2e.network import register_station

VEHICLES = [
    {"code": "bus-2", "arrival": "2025-03-01T14:00:00Z", "departure": "2025-03-02T01:00:00Z",
     "max_power_kw": "50", "battery_kwh": "300", "soc": "0.2", "target_soc": "0.9"},
    {"code": "bus-1", "arrival": "2025-03-01T13:00:00Z", "departure": "2025-03-02T00:30:00Z",
     "max_power_kw": "50", "energy_kwh": "180", "station_id": "DEPOT-1", "evse_id": 1},
]


async def test_only_sites_under_load_management_are_listed_with_their_tree_size(api):
    await register_station(api, "ALA-1")  # creates the site ALA-TEST
    assert (await api.get("/api/v1/smart/sites")).json() == []
    other = await api.post("/api/v1/sites", json={"code": "ALA-PLAIN", "operator": "KZ-TEST", "name": "Not managed",
                                                  "country": "KZ", "lat": 43.2, "lon": 76.9, "timezone": "Asia/Almaty"})
    assert other.status_code == 201
    assert (await api.put("/api/v1/smart/sites/ALA-TEST", json={"grid_limit_kw": "27.6"})).status_code == 200
    for circuit, parent in [("feeder", None), ("cabinet", "feeder")]:
        response = await api.put(f"/api/v1/smart/sites/ALA-TEST/circuits/{circuit}",
                                 json={"limit_a": "32", "parent": parent})
        assert response.status_code == 200, response.text
    for evse in (1, 2):
        response = await api.put(f"/api/v1/smart/stations/ALA-1/evses/{evse}", json={"circuit": "cabinet"})
        assert response.status_code == 200, response.text

    listed = (await api.get("/api/v1/smart/sites")).json()

    assert listed == [{
        "site": "ALA-TEST", "name": "Kaskelen test site", "city": "Kaskelen", "grid_limit_a": "40",
        "grid_limit_kw": 27.6, "voltage": "230", "depot": False, "circuits": 2, "evses": 2,
    }]


async def test_a_depots_vehicles_are_listed_earliest_arrival_first(api):
    await register_station(api, "DEPOT-1")
    site = await api.put("/api/v1/smart/sites/ALA-TEST", json={"grid_limit_kw": "200", "depot": True})
    assert site.status_code == 200
    assert (await api.put("/api/v1/smart/sites/ALA-TEST/depot/vehicles", json=VEHICLES)).status_code == 200

    vehicles = (await api.get("/api/v1/smart/sites/ALA-TEST/depot/vehicles")).json()

    assert [v["code"] for v in vehicles] == ["bus-1", "bus-2"]
    assert vehicles[0] == {
        "code": "bus-1", "arrival": "2025-03-01T13:00:00.000Z", "departure": "2025-03-02T00:30:00.000Z",
        "max_power_kw": "50", "energy_kwh": "180", "battery_kwh": None, "soc": None, "target_soc": None,
        "station_id": "DEPOT-1", "evse_id": 1, "id_token": None,
        "v2g": False, "max_discharge_kw": None, "min_soc": None,  # not opted in to discharging (V2G)
    }
    assert vehicles[1]["soc"] == "0.2" and vehicles[1]["target_soc"] == "0.9"


async def test_vehicles_of_a_site_not_under_load_management_are_refused_with_the_reason(api):
    await register_station(api, "ALA-1")
    response = await api.get("/api/v1/smart/sites/ALA-TEST/depot/vehicles")
    assert response.status_code == 404
    assert "not under load management" in response.json()["detail"]
