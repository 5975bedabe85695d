"""Station profiles end to end: edited through the API, learned from a station's boot and
configuration, shown in the station's record, and consulted by reservations, cost display and
smart charging instead of vendor branches. `ocpp` package chargers over real sockets, on
SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from ocpp.v16 import call as call16

from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer, eventually
from tests.e2e.test_reservations import in_minutes

STATION = "ALA-PROFILE-16"
FAST = pytest.mark.settings(smart_rebalance_delay=0.05, smart_check_every=0.5)


async def boot_as(peer, vendor: str, model: str, firmware: str) -> None:
    reply = await peer.call(call16.BootNotification(
        charge_point_vendor=vendor, charge_point_model=model, firmware_version=firmware))
    assert reply.status == "Accepted"


async def test_profiles_are_listed_stored_edited_and_deleted(api):
    shipped = {p["name"]: p for p in (await api.get("/api/v1/station-profiles")).json()}
    assert shipped["generic-ocpp1.6"]["origin"] == "shipped"
    assert shipped["generic-ocpp1.6"]["facts"]["min_current_a"] == "6"
    assert "IEC 61851-1" in shipped["generic-ocpp1.6"]["sources"]["min_current_a"]
    body = {"match": {"vendor": "Acme*", "model": "Pole-2"}, "facts": {"reservations_station_wide": False},
            "note": "our field test", "sources": {"reservations_station_wide": "field test 2026-03"}}
    created = await api.put("/api/v1/station-profiles/acme-pole", json=body)
    assert created.status_code == 201, created.text
    assert (await api.put("/api/v1/station-profiles/acme-pole", json=body)).status_code == 200
    edited = await api.put("/api/v1/station-profiles/generic-ocpp1.6", json={
        "match": {"ocpp_version": "1.6"}, "facts": {"min_current_a": "8"}})
    assert edited.json()["origin"] == "edited"
    bad = await api.put("/api/v1/station-profiles/bad", json={"match": {}, "facts": {"min_current_a": "none"}})
    assert bad.status_code == 422 and "min_current_a" in bad.json()["detail"]
    shipped_delete = await api.delete("/api/v1/station-profiles/go-e-firmware-56.2")
    assert shipped_delete.status_code == 409
    reverted = await api.delete("/api/v1/station-profiles/generic-ocpp1.6")
    assert reverted.status_code == 200 and reverted.json()["facts"]["min_current_a"] == "6"
    assert (await api.delete("/api/v1/station-profiles/acme-pole")).status_code == 204
    assert (await api.get("/api/v1/station-profiles/acme-pole")).status_code == 404


async def test_a_station_shows_its_effective_profile_learned_from_boot_and_configuration(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot_as(peer, "go-e GmbH", "go-eCharger HOME+", "56.2")
        peer.configuration["MeterValuesSampledData"] = "Energy.Active.Import.Register,Current.Import"
        read = await api.post(f"/api/v1/stations/{STATION}/commands/get_configuration", json={})
        assert read.status_code == 200, read.text
        shown = (await api.get(f"/api/v1/stations/{STATION}")).json()["profile"]
        alone = (await api.get(f"/api/v1/stations/{STATION}/profile")).json()
    assert shown == alone
    assert shown["profiles"] == ["generic-ocpp1.6", "go-e-firmware-56.2"]
    facts = shown["facts"]
    assert facts["resend_limits_after_reconnect"] == {"value": True, "source": "profile go-e-firmware-56.2"}
    assert facts["reservations_station_wide"] == {"value": True, "source": "configuration ReserveConnectorZeroSupported"}
    assert facts["measurands"]["value"] == ["Energy.Active.Import.Register", "Current.Import"]
    assert facts["min_current_a"] == {"value": "6", "source": "profile generic-ocpp1.6"}


async def test_h03_reservations_consult_the_profile_not_the_vendor(api, ocpp_url):
    """A stored profile saying a model takes no whole-station reservation is obeyed (it
    overrides what the station reports) and named in the refusal."""
    await register_station(api, STATION)
    await add_token(api, "DRIVER-1")
    stored = await api.put("/api/v1/station-profiles/zhida-dc-120", json={
        "match": {"vendor": "Zhida", "model": "DC-120"}, "facts": {"reservations_station_wide": False},
        "sources": {"reservations_station_wide": "our acceptance test: it answers Rejected to connector 0"}})
    assert stored.status_code == 201
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot_as(peer, "Zhida", "DC-120", "3.1")
        refused = await api.post(f"/api/v1/stations/{STATION}/reservations", json={
            "evse_id": 0, "id_token": "DRIVER-1", "expires_at": in_minutes(30)})
        assert "ReserveNow" not in peer.actions()
    assert refused.status_code == 422
    assert "(profile zhida-dc-120)" in refused.json()["detail"]


async def test_i_cost_display_consults_the_profile(api, platform, ocpp_url):
    """A profile saying a model shows no cost keeps cost messages away, without asking it."""
    await register_station(api, STATION)
    await api.put("/api/v1/station-profiles/no-screen", json={
        "match": {"vendor": "Headless*"}, "facts": {"cost_display": False}})
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot_as(peer, "Headless Power", "H1", "1.0")
        shows = await platform.charger_costs._shows_cost(STATION, "running_cost")
        assert "GetConfiguration" not in peer.actions()
    assert shows is False


@FAST
async def test_k_limits_resent_after_a_reconnect_where_the_profile_says_so(api, ocpp_url):
    """go-e firmware 56.2 stops honouring its profiles after a reconnect (the shipped quirk):
    load management sends its limits again on the new connection, without a boot."""
    await register_station(api, STATION)
    assert (await api.put("/api/v1/smart/sites/ALA-TEST", json={"grid_limit_a": "40"})).status_code == 200
    assert (await api.put("/api/v1/smart/sites/ALA-TEST/circuits/cabinet", json={"limit_a": "32"})).status_code == 200
    placed = await api.put(f"/api/v1/smart/stations/{STATION}/evses/1", json={"circuit": "cabinet", "max_current_a": "32"})
    assert placed.status_code == 200, placed.text
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot_as(peer, "go-e GmbH", "go-eCharger", "56.2")
        await eventually(lambda: _asked(peer))
    async with connected_peer(ocpp_url, STATION, "1.6") as again:  # a reconnect: no BootNotification
        sent = await eventually(lambda: _asked(again))
    assert sent[0]["cs_charging_profiles"]["charging_profile_purpose"] == "TxDefaultProfile"


async def _asked(peer) -> list[dict]:
    return [payload for action, payload in peer.received if action == "SetChargingProfile"]
