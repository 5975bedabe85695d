"""The security event list: a station's SecurityEventNotification is stored and served, and the
CSMS's own security decisions stand beside it with their reasons."""

from __future__ import annotations

from ocpp.v201 import call

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.domain.security_reasons import reason
from tests.e2e.network import register_station
from tests.e2e.peers import connected_peer


async def test_a04_security_event_notification_is_stored_and_listed(platform, api, ocpp_url):
    await register_station(api, "SEC-1")
    async with connected_peer(ocpp_url, "SEC-1", "2.0.1") as station:
        await station.call(call.SecurityEventNotification(
            type="TamperDetectionActivated", timestamp=to_ocpp(utcnow()), tech_info="door opened"
        ))
    listed = (await api.get("/api/v1/security-events", params={"station_id": "SEC-1"})).json()
    assert [(e["origin"], e["type"], e["tech_info"]) for e in listed] == [
        ("station", "TamperDetectionActivated", "door opened")
    ]


async def test_csms_decisions_are_listed_with_their_reason_in_words_and_as_a_code_newest_first(platform, api):
    await platform.security_events.decided("SEC-2", "InvalidChargingStationCertificate",
                                           reason("certificate_refused", detail="expired on 2026-01-01"), "10.0.0.7")
    await platform.security_events.decided("SEC-2", "SecurityProfileDowngrade",
                                           reason("below_profile_2_plain", station="SEC-2"))
    listed = (await api.get("/api/v1/security-events", params={"origin": "csms"})).json()
    assert [(e["type"], e["reason"]) for e in listed] == [
        ("SecurityProfileDowngrade", "station SEC-2 is at security profile 2: connect over wss:// (TLS) with its "
                                     "Basic-auth password (this handshake: plain ws, profile 1)"),
        ("InvalidChargingStationCertificate", "expired on 2026-01-01; a station at security profile 3 shows a valid "
                                              "certificate whose common name is its id"),
    ]
    assert [(e["reason_code"], e["reason_values"]) for e in listed] == [
        ("below_profile_2_plain", {"station": "SEC-2"}),
        ("certificate_refused", {"detail": "expired on 2026-01-01"}),
    ]
    assert listed[1]["source_address"] == "10.0.0.7"
    only = (await api.get("/api/v1/security-events", params={"type": "InvalidChargingStationCertificate"})).json()
    assert len(only) == 1


async def test_a_wrong_origin_filter_is_a_422_with_a_reason(api):
    answer = await api.get("/api/v1/security-events", params={"origin": "elsewhere"})
    assert answer.status_code == 422
