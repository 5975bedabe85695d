"""The driver's tariff on a 2.0.1 charger's display (OCPP 2.0.1 I01, I04, I05, I06): an `ocpp`
package charger over a real socket receives the personalMessage, the fallback messages and the
updated message, in its driver's language, with amounts from the published tariff; SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ocpp.v201 import call

from silkcharge.domain.clock import to_ocpp, utcnow
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer, eventually
from tests.e2e.test_billing import STANDARD, component, publish
from tests.e2e.test_cost_on_charger import sampled_201
from tests.e2e.test_ocpp201 import boot

STATION = "TRF-201"
FLEET = {**STANDARD, "silkcharge": {"token_groups": ["taxi-almaty"]},
         "elements": [{"price_components": [component("ENERGY", "60", 1)]}]}
# 80 KZT/kWh from 07:00 to 23:00 in Almaty, 50 KZT/kWh at night; 16 % VAT: 92.80 and 58.00.
DAY_AND_NIGHT = {**STANDARD, "elements": [
    {"price_components": [component("ENERGY", "80", 1)],
     "restrictions": {"start_time": "07:00", "end_time": "23:00"}},
    {"price_components": [component("ENERGY", "50", 1)]},
]}
EVENING = datetime(2026, 11, 21, 17, 30, tzinfo=timezone.utc)  # 22:30 in Almaty

KK_STANDARD = "Сіздің тарифіңіз: 92,80 KZT/кВт·сағ, сеанс үшін 232,00 KZT, тұрақ 696,00 KZT/сағ (ҚҚС-пен)"
RU_STANDARD = "Ваш тариф: 92,80 KZT/кВт·ч, 232,00 KZT за сессию, стоянка 696,00 KZT/ч (с НДС)"


async def report(peer, *, shows_tariffs: str = "true", language: str = "ru", allowed: str = "ru,kk,en") -> None:
    """The station reports whether it shows tariffs and its display's languages (NotifyReport)."""
    await peer.call(call.NotifyReport(request_id=1, generated_at=to_ocpp(utcnow()), seq_no=0, report_data=[
        {"component": {"name": "TariffCostCtrlr"}, "variable": {"name": "Enabled", "instance": "Tariff"},
         "variable_attribute": [{"type": "Actual", "value": shows_tariffs}]},
        {"component": {"name": "DisplayMessageCtrlr"}, "variable": {"name": "Language"},
         "variable_attribute": [{"type": "Actual", "value": language}],
         "variable_characteristics": {"data_type": "OptionList", "values_list": allowed,
                                      "supports_monitoring": False}},
    ]))


async def authorize(peer, token: str) -> dict:
    return (await peer.call(call.Authorize(id_token={"id_token": token, "type": "ISO14443"}))).id_token_info


async def test_i01_authorize_and_started_replies_carry_the_drivers_tariff_in_their_language(
    api, platform, ocpp_url,
):
    await register_station(api, STATION)
    for token, extra in (("APP-KK", {}), ("CARD-1", {}), ("TAXI-7", {"group_id": "taxi-almaty"})):
        await add_token(api, token, **extra)
    await platform.drivers.ensure("aigerim@example.kz", "a-long-passphrase", "Aigerim", "kk", ["APP-KK"])
    assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
    assert (await publish(api, "KZ-TAXI", FLEET)).status_code == 201
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        await report(peer)
        kazakh, anonymous, taxi = [await authorize(peer, t) for t in ("APP-KK", "CARD-1", "TAXI-7")]
        unknown = await authorize(peer, "NOBODY-9")
        started = await peer.call(call.TransactionEvent(
            event_type="Started", timestamp=to_ocpp(utcnow()), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "trf-1"}, id_token={"id_token": "APP-KK", "type": "ISO14443"},
            evse={"id": 1, "connector_id": 1}))
    # The driver's account language, where the display shows it.
    assert kazakh["personal_message"] == {"format": "UTF8", "language": "kk", "content": KK_STANDARD}
    assert kazakh["language1"] == "kk"
    # No account: the display's own language.
    assert anonymous["personal_message"] == {"format": "UTF8", "language": "ru", "content": RU_STANDARD}
    assert "language1" not in anonymous
    # A fleet's concession tariff is the one its driver sees.
    assert taxi["personal_message"]["content"] == "Ваш тариф: 69,60 KZT/кВт·ч (с НДС)"
    assert unknown["status"] != "Accepted" and "personal_message" not in unknown
    assert started.id_token_info["personal_message"]["content"] == KK_STANDARD


async def test_i01_a_station_that_shows_no_tariff_gets_no_personal_message(api, platform, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "CARD-1")
    assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        await report(peer, shows_tariffs="false")
        reply = await authorize(peer, "CARD-1")
    assert reply["status"] == "Accepted"
    assert "personal_message" not in reply
    assert "SetVariables" not in peer.actions()


async def test_i04_i05_fallback_messages_follow_the_stations_tariff(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        peer.variables[("TariffCostCtrlr", "Enabled")] = "true"
        peer.variables[("DisplayMessageCtrlr", "Language")] = "kk"
        await boot(peer)

        def written() -> list[dict]:
            return [{item["variable"]["name"]: item["attribute_value"] for item in sent["set_variable_data"]}
                    for action, sent in peer.received if action == "SetVariables"]

        async def writes(count: int):
            return written() if len(written()) == count else None

        # No tariff yet: nothing to show, so the station is not even asked.
        assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
        first = (await eventually(lambda: writes(1)))[0]
        assert first == {
            "TariffFallbackMessage": "Тариф: 92,80 KZT/кВт·сағ, сеанс үшін 232,00 KZT, тұрақ 696,00 KZT/сағ (ҚҚС-пен)",
            "TotalCostFallbackMessage": "Зарядтаудың жалпы құны сіздің чегіңізде болады.",
        }
        # A site's own tariff comes first at its stations; deleting it brings the network's back.
        site_tariff = {**STANDARD, "elements": [{"price_components": [component("ENERGY", "70", 1)]}]}
        assert (await publish(api, "KZ-SITE", site_tariff, site="ALA-TEST")).status_code == 201
        assert (await eventually(lambda: writes(2)))[1]["TariffFallbackMessage"] == "Тариф: 81,20 KZT/кВт·сағ (ҚҚС-пен)"
        assert (await api.delete("/api/v1/tariffs/KZ-SITE")).status_code == 204
        assert (await eventually(lambda: writes(3)))[2] == first
        # After a boot the station may have lost them: written again.
        await boot(peer)
        assert (await eventually(lambda: writes(4)))[3] == first
    asked = [sent for action, sent in peer.received if action == "GetVariables"]
    assert len(asked) == 1  # once per connection, only when there was a tariff to show
    stored = (await api.get(f"/api/v1/stations/{STATION}")).json()["configuration"]
    assert stored["TariffCostCtrlr.TariffFallbackMessage"] == first["TariffFallbackMessage"]


async def test_i06_updated_personal_message_when_the_night_rate_begins_or_a_new_tariff_applies_read_only_then(
        api, ocpp_url, platform, monkeypatch):
    await register_station(api, STATION)
    await add_token(api, "CARD-1")
    assert (await publish(api, "KZ-DAYNIGHT", DAY_AND_NIGHT)).status_code == 201
    # The session and its station are read to word a change, not for a reply whose price holds.
    looked_up = platform.tariff_info._session_and_station
    lookups: list[int] = []

    async def session_and_station(transaction_id):
        lookups.append(transaction_id)
        return await looked_up(transaction_id)

    monkeypatch.setattr(platform.tariff_info, "_session_and_station", session_and_station)
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        await report(peer)

        async def event(kind: str, seq: int, minutes: int, wh: int):
            at = EVENING + timedelta(minutes=minutes)
            return await peer.call(call.TransactionEvent(
                event_type=kind, timestamp=to_ocpp(at), seq_no=seq,
                trigger_reason="Authorized" if kind == "Started" else "MeterValuePeriodic",
                transaction_info={"transaction_id": "night-1", "charging_state": "Charging"},
                id_token={"id_token": "CARD-1", "type": "ISO14443"} if kind == "Started" else None,
                evse={"id": 1, "connector_id": 1}, meter_value=sampled_201(at, wh, 50000)))

        started = await event("Started", 0, 0, 0)
        lookups.clear()
        evening = await event("Updated", 1, 20, 16000)  # 22:50: still the day rate
        assert lookups == []
        night = await event("Updated", 2, 40, 32000)  # 23:10: the night rate began
        assert len(lookups) == 1
        later = await event("Updated", 3, 50, 40000)  # told once
        assert len(lookups) == 1
        # A site's own tariff published meanwhile is what the session will be billed at.
        site_tariff = {**STANDARD, "elements": [{"price_components": [component("ENERGY", "40", 1)]}]}
        assert (await publish(api, "KZ-SITE", site_tariff, site="ALA-TEST")).status_code == 201
        republished = await event("Updated", 4, 55, 44000)
    assert started.id_token_info["personal_message"]["content"] == "Ваш тариф: 92,80 KZT/кВт·ч (с НДС)"
    assert evening.updated_personal_message is None
    assert night.updated_personal_message == {
        "format": "UTF8", "language": "ru", "content": "Тариф с этого момента: 58,00 KZT/кВт·ч (с НДС)"}
    assert later.updated_personal_message is None
    assert republished.updated_personal_message["content"] == "Тариф с этого момента: 46,40 KZT/кВт·ч (с НДС)"
