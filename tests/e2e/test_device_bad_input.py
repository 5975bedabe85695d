"""What a 2.0.1 station sends about its device that cannot be used gets a CALLERROR that says
why, stores nothing of it, and leaves the socket open; what can be used but names something
unknown is kept (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from ocpp.exceptions import OCPPError
from ocpp.v201 import call

from silkcharge.domain.clock import to_ocpp, utcnow
from tests.e2e.device_peers import device_peer
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import eventually
from tests.e2e.test_ocpp201 import boot

STATION = "TAS-201-BAD"


async def refused(peer, payload) -> OCPPError:
    with pytest.raises(OCPPError) as caught:
        await peer.call(payload, suppress=False, skip_schema_validation=True)
    return caught.value


def limit(value, **period) -> call.NotifyChargingLimit:
    return call.NotifyChargingLimit(
        charging_limit={"charging_limit_source": "EMS"}, evse_id=1, charging_schedule=[{
            "id": 1, "charging_rate_unit": "W",
            "charging_schedule_period": [{"start_period": 0, "limit": value, **period}]}])


async def test_unusable_limits_and_malformed_device_messages_are_refused_with_a_reason(api, ocpp_url):
    await register_station(api, STATION)
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        negative = await refused(peer, limit(-5))
        assert negative.code == "PropertyConstraintViolation"
        assert "limit -5 must be a number of at least 0" in negative.description
        no_phases = await refused(peer, limit(7000, number_phases=0))
        assert "numberPhases 0 must be 1, 2 or 3" in no_phases.description
        too_long = await refused(peer, call.NotifyCustomerInformation(
            data="x" * 513, seq_no=0, generated_at=to_ocpp(utcnow()), request_id=1))
        assert too_long.code == "PropertyConstraintViolation"
        empty = await refused(peer, call.NotifyEvent(generated_at=to_ocpp(utcnow()), seq_no=0, event_data=[]))
        assert empty.code == "OccurrenceConstraintViolation"
        wrong_type = await refused(peer, call.NotifyMonitoringReport(
            request_id=1, seq_no=0, generated_at=to_ocpp(utcnow()), monitor=[{
                "component": {"name": "EVSE"}, "variable": {"name": "Power"},
                "variable_monitoring": [{"id": 1, "transaction": False, "value": "high", "type": "Delta",
                                         "severity": 1}]}]))
        assert wrong_type.code == "TypeConstraintViolation"
        # The socket is still up, and nothing of the refused messages was stored.
        assert (await peer.call(call.Heartbeat())).current_time
    assert (await api.get(f"/api/v1/stations/{STATION}/charging-limits")).json() == []
    assert (await api.get(f"/api/v1/stations/{STATION}/monitors")).json() == []
    assert (await api.get(f"/api/v1/stations/{STATION}/device-events")).json() == []


async def test_huge_sequence_numbers_neither_hang_nor_lose_anything(api, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "APP-1")
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        # A customer-information part numbered 2^31-1 as the last: kept, marked incomplete.
        await peer.call(call.NotifyCustomerInformation(
            data="tail", seq_no=2**31 - 1, generated_at=to_ocpp(utcnow()), request_id=31, tbc=False))
        stray = (await api.get(f"/api/v1/stations/{STATION}/customer-information/31")).json()
        assert (stray["status"], stray["complete"]) == ("Unsolicited", False)
        assert stray["data"] == "[parts 0-2147483646 not received]tail"
        # A transaction whose seqNo leaps by two billion: stored; not taken for a queue of gaps.
        await peer.call(call.TransactionEvent(
            event_type="Started", timestamp=to_ocpp(utcnow()), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "tx-9"}, id_token={"id_token": "APP-1", "type": "ISO14443"},
            evse={"id": 1, "connector_id": 1}))
        await peer.call(call.TransactionEvent(
            event_type="Updated", timestamp=to_ocpp(utcnow()), trigger_reason="MeterValuePeriodic",
            seq_no=2**31 - 1, transaction_info={"transaction_id": "tx-9"}))
        tx = (await api.get(f"/api/v1/transactions?station_id={STATION}")).json()[0]
        assert (tx["missing_seq_nos"], tx["state"]) == (None, "Active")
        assert "GetTransactionStatus" not in peer.actions()
        # A NotifyDisplayMessages nobody asked for: kept; a message group that does not exist: 404.
        await peer.call(call.NotifyDisplayMessages(request_id=404, message_info=[
            {"id": 3, "priority": "NormalCycle", "message": {"format": "UTF8", "content": "Hi"}}]))
        (message,) = (await api.get(f"/api/v1/stations/{STATION}/display-messages")).json()
        assert (message["message_id"], message["source"]) == (3, "station")
        replaced = await api.put(f"/api/v1/stations/{STATION}/display-messages/999", json={"texts": {"ru": "x"}})
        assert replaced.status_code == 404
        assert await eventually(lambda: _still_one(api))


async def _still_one(api) -> bool:
    return len((await api.get(f"/api/v1/stations/{STATION}/display-messages")).json()) == 1


async def test_ids_beyond_what_the_store_holds_are_refused_with_422_naming_them(api):
    """A monitor or display message id above 2^31-1 was sent to PostgreSQL's `integer` column
    and answered 500; now the route refuses it before any lookup."""
    await register_station(api, STATION)
    huge = 2**31
    for path in (f"/api/v1/stations/{STATION}/monitors/{huge}",
                 f"/api/v1/stations/{STATION}/display-messages/{huge}"):
        answer = await api.delete(path)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["problems"][0]["field"].endswith("_id"), answer.json()
    stale = await api.post(f"/api/v1/transactions/{2**63}/status-check")
    assert stale.status_code == 422
    assert "transaction_id" in stale.json()["problems"][0]["field"]
