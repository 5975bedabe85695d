"""Authorization details (OCPP 2.0.1 blocks C and E; 1.6 Authorize, StartTransaction and
StopTransaction with parentIdTag): a transaction event's idToken answered for itself, group
members, master pass. `ocpp` package chargers over real sockets, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from silkcharge.domain.clock import to_ocpp, utcnow
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer
from tests.e2e.test_reservations import boot, in_minutes

STATION = {"1.6": "ALA-AUTH-16", "2.0.1": "TAS-AUTH-201"}


@contextlib.asynccontextmanager
async def station(api, ocpp_url, version: str):
    await register_station(api, STATION[version])
    async with connected_peer(ocpp_url, STATION[version], version) as peer:
        await boot(peer, version)
        yield peer


def event(kind: str, tx: str, seq: int, token: str | None = None, **extra):
    fields = dict(
        event_type=kind, timestamp=to_ocpp(utcnow()), seq_no=seq, evse={"id": 1, "connector_id": 1},
        trigger_reason=extra.pop("trigger", "Authorized"),
        transaction_info=extra.pop("transaction_info", {"transaction_id": tx}), **extra)
    if token is not None:
        fields["id_token"] = {"id_token": token, "type": "ISO14443"}
    return call201.TransactionEvent(**fields)


async def test_e_unknown_started_looks_up_the_token(api, ocpp_url):
    """An Updated (or Ended) event for a transaction whose Started never arrived: its token is
    looked up, not answered Unknown."""
    async with station(api, ocpp_url, "2.0.1") as peer:
        await add_token(api, "DRIVER-A")
        updated = await peer.call(event("Updated", "tx-lost-start", 3, "DRIVER-A", offline=True))
        ended = await peer.call(event("Ended", "tx-lost-both", 5, "DRIVER-A", trigger="StopAuthorized",
                                      offline=True))
    assert updated.id_token_info["status"] == "Accepted"
    assert ended.id_token_info["status"] == "Accepted"
    listed = (await api.get(f"/api/v1/transactions?station_id={STATION['2.0.1']}")).json()
    assert {(t["station_tx_id"], t["token_status"]) for t in listed} == {
        ("tx-lost-start", "Accepted"), ("tx-lost-both", "Accepted")}


async def test_c09_group_member_stop_gets_own_id_token_info(api, ocpp_url):
    """C09.FR.03 / E01.FR.12: a different idToken in a TransactionEvent (a member of the
    starter's group stopping) gets its own idTokenInfo, with its groupIdToken."""
    async with station(api, ocpp_url, "2.0.1") as peer:
        await add_token(api, "FAMILY", type="Central")
        await add_token(api, "MUM", group_id="FAMILY")
        await add_token(api, "DAD", group_id="FAMILY", type="ISO15693")
        started = await peer.call(event("Started", "tx-family", 0, "MUM"))
        presented = await peer.call(event("Updated", "tx-family", 1, "DAD"))
        ended = await peer.call(event("Ended", "tx-family", 2, "DAD", trigger="StopAuthorized",
                                      transaction_info={"transaction_id": "tx-family", "stopped_reason": "Local"}))
    group = {"id_token": "FAMILY", "type": "Central"}
    assert started.id_token_info == {"status": "Accepted", "group_id_token": group}
    assert presented.id_token_info == {"status": "Accepted", "group_id_token": group}
    assert ended.id_token_info == {"status": "Accepted", "group_id_token": group}
    tx = (await api.get(f"/api/v1/transactions?station_id={STATION['2.0.1']}")).json()[0]
    assert tx["id_token"] == "MUM"  # the starter stays the transaction's token


async def _master_pass_station(api, peer) -> None:
    """The station's AuthCtrlr.MasterPassGroupId, read into its stored configuration."""
    peer.variables[("AuthCtrlr", "MasterPassGroupId")] = "SITE-STAFF"
    read = await api.post(f"/api/v1/stations/{STATION['2.0.1']}/commands/get_configuration",
                          json={"keys": ["AuthCtrlr.MasterPassGroupId"]})
    assert read.status_code == 200, read.text
    await add_token(api, "SITE-STAFF", type="Central")
    await add_token(api, "ATTENDANT", group_id="SITE-STAFF")
    await add_token(api, "DRIVER-B")


async def test_c16_master_pass_stops_any_transaction(api, ocpp_url):
    async with station(api, ocpp_url, "2.0.1") as peer:
        await _master_pass_station(api, peer)
        await peer.call(event("Started", "tx-driver-b", 0, "DRIVER-B"))
        stopped = await peer.call(event(
            "Ended", "tx-driver-b", 1, "ATTENDANT", trigger="StopAuthorized",
            transaction_info={"transaction_id": "tx-driver-b", "stopped_reason": "MasterPass"}))
    assert stopped.id_token_info == {
        "status": "Accepted", "group_id_token": {"id_token": "SITE-STAFF", "type": "Central"}}
    tx = (await api.get(f"/api/v1/transactions?station_id={STATION['2.0.1']}")).json()[0]
    assert (tx["state"], tx["stop_reason"], tx["id_token"]) == ("Ended", "MasterPass", "DRIVER-B")
    profile = (await api.get(f"/api/v1/stations/{STATION['2.0.1']}")).json()["profile"]
    assert profile["facts"]["master_pass_group_id"] == {
        "value": "SITE-STAFF", "source": "configuration AuthCtrlr.MasterPassGroupId"}


async def test_c16_master_pass_cannot_start_a_transaction(api, ocpp_url):
    async with station(api, ocpp_url, "2.0.1") as peer:
        await _master_pass_station(api, peer)
        authorized = await peer.call(call201.Authorize(id_token={"id_token": "ATTENDANT", "type": "ISO14443"}))
        started = await peer.call(event("Started", "tx-attendant", 0, "ATTENDANT"))
        remote = await api.post(f"/api/v1/stations/{STATION['2.0.1']}/commands/remote_start",
                                json={"id_token": "ATTENDANT", "evse_id": 1})
        reserved = await api.post(f"/api/v1/stations/{STATION['2.0.1']}/reservations", json={
            "evse_id": 1, "id_token": "ATTENDANT", "expires_at": in_minutes(30)})
        assert "RequestStartTransaction" not in peer.actions() and "ReserveNow" not in peer.actions()
    # Authorize says who the token is (the station shows its master-pass screen) ...
    assert authorized.id_token_info["status"] == "Accepted"
    assert authorized.id_token_info["group_id_token"]["id_token"] == "SITE-STAFF"
    # ... but a transaction it starts is Invalid, and the CSMS starts or reserves nothing for it.
    assert started.id_token_info["status"] == "Invalid"
    assert remote.status_code == 422 and "master pass" in remote.json()["detail"]
    assert reserved.status_code == 422 and "master pass" in reserved.json()["detail"]


async def test_1_6_stop_by_a_parent_id_tag_member_gets_its_own_id_tag_info(api, ocpp_url):
    """1.6 §3.5 / §4.10: StopTransaction's idTagInfo is the stopping idTag's own, with its
    parentIdTag (the station already checked the group); Authorize carries parentIdTag."""
    async with station(api, ocpp_url, "1.6") as peer:
        await add_token(api, "TAXI-1", group_id="DYU-TAXI")
        await add_token(api, "TAXI-2", group_id="DYU-TAXI")
        await add_token(api, "LONG-GROUP", group_id="a-group-name-longer-than-twenty")
        authorized = await peer.call(call16.Authorize(id_tag="TAXI-2"))
        long_group = await peer.call(call16.Authorize(id_tag="LONG-GROUP"))
        started = await peer.call(call16.StartTransaction(
            connector_id=1, id_tag="TAXI-1", meter_start=0, timestamp=to_ocpp(utcnow())))
        stopped = await peer.call(call16.StopTransaction(
            meter_stop=5000, timestamp=to_ocpp(utcnow()), transaction_id=started.transaction_id,
            id_tag="TAXI-2", reason="Local"))
        unknown = await peer.call(call16.Authorize(id_tag="NOBODY"))
    assert authorized.id_tag_info == {"status": "Accepted", "parent_id_tag": "DYU-TAXI"}
    assert started.id_tag_info == {"status": "Accepted", "parent_id_tag": "DYU-TAXI"}
    assert stopped.id_tag_info == {"status": "Accepted", "parent_id_tag": "DYU-TAXI"}
    # 1.6 parentIdTag holds 20 characters: a longer group is left out, never cut short.
    assert long_group.id_tag_info == {"status": "Accepted"}
    assert unknown.id_tag_info == {"status": "Invalid"}
