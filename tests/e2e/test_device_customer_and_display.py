"""OCPP 2.0.1 customer information (N09, N10) and display messages (O01-O06) end to end: an
`ocpp` package charger over a real socket, the gateway, the operator API and the store
(SQLite and PostgreSQL)."""

from __future__ import annotations

from ocpp.v201 import call

from silkcharge.domain.clock import to_ocpp, utcnow
from tests.e2e.device_peers import device_peer
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import eventually
from tests.e2e.test_ocpp201 import boot

STATION = "TAS-201-DSP"
TEXTS = {"ru": "Зарядка бесплатна до 18:00", "kk": "18:00-ге дейін тегін", "en": "Free until 18:00",
         "zh": "18:00前免费"}


async def customer_request(api, request_id: int) -> dict:
    return (await api.get(f"/api/v1/stations/{STATION}/customer-information/{request_id}")).json()


async def test_n09_get_customer_information_multi_part(api, ocpp_url):
    await register_station(api, STATION)
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        response = await api.post(f"/api/v1/stations/{STATION}/customer-information",
                                  json={"id_token": "RFID-42", "report": True})
        assert response.status_code == 202, response.text
        request_id = response.json()["request_id"]
        asked = peer.received[-1][1]
        assert (asked["request_id"], asked["id_token"], asked["report"], asked["clear"]) == (
            request_id, {"id_token": "RFID-42", "type": "ISO14443"}, True, False)

        async def complete():
            found = await customer_request(api, request_id)
            return found if found["complete"] else None

        found = await eventually(complete)
    assert found["status"] == "Accepted"
    assert found["data"] == peer.customers["RFID-42"]
    assert found["parts_received"] == 3  # 120 characters sent 40 at a time
    assert found["asked"] == {"id_token": "RFID-42", "id_token_type": "ISO14443", "report": True, "clear": False}


async def test_n10_clear_customer_information_and_bad_requests(api, ocpp_url):
    await register_station(api, STATION)
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        cleared = await api.post(f"/api/v1/stations/{STATION}/customer-information",
                                 json={"customer_identifier": "RFID-42", "report": False, "clear": True})
        assert cleared.status_code == 202, cleared.text
        assert (cleared.json()["status"], cleared.json()["complete"]) == ("Accepted", True)
        assert await eventually(lambda: _gone(peer))

        nobody = await api.post(f"/api/v1/stations/{STATION}/customer-information", json={"report": True})
        assert nobody.status_code == 422
        assert "name the customer" in nobody.json()["detail"]
        nothing = await api.post(f"/api/v1/stations/{STATION}/customer-information",
                                 json={"id_token": "RFID-42", "report": False, "clear": False})
        assert nothing.status_code == 422
        assert peer.actions().count("CustomerInformation") == 1

        # A part for a request silkcharge never made is answered and kept, flagged Unsolicited.
        await peer.call(call.NotifyCustomerInformation(
            data="stray", seq_no=0, generated_at=to_ocpp(utcnow()), request_id=9999))
        stray = await customer_request(api, 9999)
        assert (stray["status"], stray["data"], stray["complete"]) == ("Unsolicited", "stray", True)


async def _gone(peer) -> bool:
    return "RFID-42" not in peer.customers


async def test_o01_set_display_message(api, ocpp_url):
    await register_station(api, STATION)
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        await _languages(peer, "ru", "ru,kk,en")
        response = await api.post(f"/api/v1/stations/{STATION}/display-messages", json={
            "texts": TEXTS, "priority": "InFront", "state": "Idle", "ends_at": "2030-01-01T00:00:00Z"})
        assert response.status_code == 201, response.text
        body = response.json()
        # The station shows ru, kk and en: each goes out as its own message; zh stays home.
        assert body["languages"] == ["ru", "kk", "en"]
        sent = [p["message"] for a, p in peer.received if a == "SetDisplayMessage"]
        assert [(m["message"]["language"], m["message"]["content"], m["priority"]) for m in sent] == [
            ("ru", TEXTS["ru"], "InFront"), ("kk", TEXTS["kk"], "InFront"), ("en", TEXTS["en"], "InFront")]
        assert sent[0]["end_date_time"] == "2030-01-01T00:00:00.000Z"
        stored = (await api.get(f"/api/v1/stations/{STATION}/display-messages")).json()
        assert [(m["message_id"], m["group_id"], m["language"]) for m in stored] == [
            (1, 1, "ru"), (2, 1, "kk"), (3, 1, "en")]

        # A format the station cannot show: its refusal, with its status.
        refused = await api.post(f"/api/v1/stations/{STATION}/display-messages",
                                 json={"texts": {"ru": "<b>x</b>"}, "format": "HTML"})
        assert refused.status_code == 409
        assert refused.json()["station_status"] == "NotSupportedMessageFormat"


async def test_o02_message_for_a_transaction_goes_out_in_its_drivers_language(api, platform, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "APP-KK")
    await platform.drivers.ensure("aigerim@example.kz", "a-long-passphrase", "Aigerim", "kk", ["APP-KK"])
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        await _languages(peer, "ru", "ru,kk,en")
        await peer.call(call.TransactionEvent(
            event_type="Started", timestamp=to_ocpp(utcnow()), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "tx-1"}, id_token={"id_token": "APP-KK", "type": "ISO14443"},
            evse={"id": 1, "connector_id": 1}))
        tx_id = (await api.get(f"/api/v1/transactions?station_id={STATION}")).json()[0]["id"]
        response = await api.post(f"/api/v1/stations/{STATION}/display-messages", json={
            "texts": TEXTS, "transaction_id": tx_id, "priority": "AlwaysFront"})
        assert response.status_code == 201, response.text
        (sent,) = [p["message"] for a, p in peer.received if a == "SetDisplayMessage"]
        assert (sent["message"]["language"], sent["transaction_id"]) == ("kk", "tx-1")

        unknown = await api.post(f"/api/v1/stations/{STATION}/display-messages",
                                 json={"texts": TEXTS, "transaction_id": tx_id + 100})
        assert unknown.status_code == 404


async def test_o06_replace_o05_clear_and_o03_report_display_messages(api, ocpp_url):
    await register_station(api, STATION)
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        await _languages(peer, "ru", "ru,kk")
        group = (await api.post(f"/api/v1/stations/{STATION}/display-messages",
                                json={"texts": {"ru": "Касса", "kk": "Касса"}})).json()["group_id"]
        # O06: same group again replaces: ru keeps its id, kk (dropped) is cleared.
        replaced = await api.put(f"/api/v1/stations/{STATION}/display-messages/{group}",
                                 json={"texts": {"ru": "Касса закрыта"}})
        assert replaced.status_code == 200, replaced.text
        assert [(m["message_id"], m["content"]) for m in replaced.json()["messages"]] == [(1, "Касса закрыта")]
        assert sorted(peer.messages) == [1]

        # O03: the station's own list replaces what is stored (one it made itself included).
        peer.messages[50] = {"id": 50, "priority": "NormalCycle", "message": {"format": "ASCII", "content": "Hello"}}
        report = await api.post(f"/api/v1/stations/{STATION}/display-messages/report", json={})
        assert report.status_code == 202, report.text

        async def both():
            stored = (await api.get(f"/api/v1/stations/{STATION}/display-messages")).json()
            return stored if len(stored) == 2 else None

        stored = await eventually(both)
        assert [(m["message_id"], m["source"]) for m in stored] == [(1, "csms"), (50, "station")]

        # O05: clearing one message; one that exists nowhere is a clear 404.
        cleared = await api.delete(f"/api/v1/stations/{STATION}/display-messages/1")
        assert cleared.json() == {"cleared": [{"message_id": 1, "status": "Accepted"}]}
        missing = await api.delete(f"/api/v1/stations/{STATION}/display-messages/777")
        assert missing.status_code == 404
        assert "no display message 777" in missing.json()["detail"]
        assert [m["message_id"] for m in (await api.get(f"/api/v1/stations/{STATION}/display-messages")).json()] == [50]


async def _languages(peer, default: str, allowed: str) -> None:
    """The station reports its display's language and the ones it allows (NotifyReport)."""
    await peer.call(call.NotifyReport(request_id=1, generated_at=to_ocpp(utcnow()), seq_no=0, report_data=[{
        "component": {"name": "DisplayMessageCtrlr"}, "variable": {"name": "Language"},
        "variable_attribute": [{"type": "Actual", "value": default}],
        "variable_characteristics": {"data_type": "OptionList", "values_list": allowed, "supports_monitoring": False},
    }]))


async def test_o04_get_specific_display_messages(api, ocpp_url):
    await register_station(api, STATION)
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        await _languages(peer, "ru", "ru")
        for text in ("Один", "Два"):
            await api.post(f"/api/v1/stations/{STATION}/display-messages", json={"texts": {"ru": text}})
        report = await api.post(f"/api/v1/stations/{STATION}/display-messages/report", json={"ids": [2]})
        assert report.status_code == 202, report.text
        assert peer.received[-1][1]["id"] == [2]
        none = await api.post(f"/api/v1/stations/{STATION}/display-messages/report",
                              json={"priority": "AlwaysFront"})
        assert none.json()["status"] == "Unknown"
        # A filtered report, or a filtered "Unknown", leaves the other messages stored.
        stored = (await api.get(f"/api/v1/stations/{STATION}/display-messages")).json()
        assert [m["content"] for m in stored] == ["Один", "Два"]
