"""Drivers' data (issue 15, item 5): a driver sees their own sessions, charges and receipts and
nobody else's, exports everything as JSON, and deletes the account (personal data erased, the
session and its CDR kept under a pseudonym); the message log shows pseudonyms unless the clear
values are asked for. Real OCPP sessions over a real socket, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import httpx
from ocpp.v16 import call
from sqlalchemy import func, select

from silkcharge.api.accounts import COOKIE
from silkcharge.domain.clock import to_ocpp
from silkcharge.domain.pseudonyms import is_pseudonym
from silkcharge.services.attempts import key_digest
from silkcharge.services.pseudonym_key import PseudonymKey
from silkcharge.store.schema import (
    AuthAttempt,
    Driver,
    DriverPasswordReset,
    DriverSession,
    DriverToken,
    IdToken,
    OcppMessage,
    Transaction,
)
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer, eventually

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
NO_KEY = {"X-API-Key": ""}
ANA = ("ana@example.kz", "correct horse", "Ana")
BEK = ("bek@example.kz", "battery staple", "Bek")
TARIFF = {"currency": "KZT", "country_code": "KZ", "party_id": "SLK",
          "elements": [{"price_components": [{"type": "ENERGY", "price": "80", "vat": 16, "step_size": 1}]}]}
STATION = "DATA-16"


async def charge(ocpp_url: str, token: str, connector: int = 1) -> int:
    """One 10 kWh session of `token` at the station, ended; its transaction id. Each connector's
    session starts an hour later (a same start would be a replay of the first)."""
    start = T0 + timedelta(hours=connector)
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        await peer.call(call.Authorize(id_tag=token))
        started = await peer.call(call.StartTransaction(connector_id=connector, id_tag=token, meter_start=0,
                                                        timestamp=to_ocpp(start)))
        await peer.call(call.StopTransaction(meter_stop=10000, timestamp=to_ocpp(start + timedelta(minutes=30)),
                                             transaction_id=started.transaction_id, id_tag=token))
    return started.transaction_id


async def priced(api: httpx.AsyncClient, transaction_id: int) -> dict:
    async def ready():
        response = await api.get(f"/api/v1/transactions/{transaction_id}/cdr")
        return response.json() if response.status_code == 200 else None

    return await eventually(ready)


async def network(api: httpx.AsyncClient, platform, *cards: str) -> None:
    await register_station(api, STATION)
    for card in cards:
        await add_token(api, card)
    made = await api.post("/api/v1/tariffs", json={"code": "KZ-STD", "operator": "KZ-TEST", "tariff": TARIFF})
    assert made.status_code == 201, made.text


async def logged_in(api: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    session = await api.post("/api/v1/driver/login", json={"email": email, "password": password}, headers=NO_KEY)
    assert session.status_code == 200, session.text
    api.cookies.clear()
    return {**NO_KEY, "Authorization": f"Bearer {session.json()['token']}"}


async def test_a_driver_sees_only_their_own_sessions_charges_and_receipts(api, platform, ocpp_url):
    await network(api, platform, "CARD-ANA", "CARD-BEK")
    await platform.drivers.ensure(*ANA, "en", ["CARD-ANA"])
    await platform.drivers.ensure(*BEK, "en", ["CARD-BEK"])
    mine = await charge(ocpp_url, "CARD-ANA", 1)
    theirs = await charge(ocpp_url, "CARD-BEK", 2)
    await priced(api, mine)
    await priced(api, theirs)
    ana = await logged_in(api, *ANA[:2])

    sessions = (await api.get("/api/v1/driver/sessions", headers=ana)).json()
    assert [s["id"] for s in sessions] == [mine]
    [session] = sessions
    assert session["id_token"] == "CARD-ANA" and Decimal(session["energy_wh"]) == 10000
    assert Decimal(session["charge"]["total_incl_vat"]) == Decimal("928")  # 10 kWh x 80 + 16 %
    assert session["charge"]["currency"] == "KZT" and session["charge"]["billed"] is True

    receipt = await api.get(session["receipt"], headers=ana)
    assert receipt.status_code == 200 and receipt.headers["content-type"].startswith("text/html")
    assert "928.00" in receipt.text
    russian = await api.get(f"{session['receipt']}?locale=ru", headers=ana)
    assert "928,00" in russian.text
    other = await api.get(f"/api/v1/driver/sessions/{theirs}/receipt", headers=ana)
    assert other.status_code == 404 and f"session {theirs}" in other.json()["detail"]
    assert (await api.get("/api/v1/driver/reservations/7/receipt", headers=ana)).status_code == 404
    assert (await api.get("/api/v1/driver/sessions", headers=NO_KEY)).status_code == 401


async def test_the_export_holds_the_account_tokens_sessions_with_charges_and_totals(api, platform, ocpp_url):
    await network(api, platform, "CARD-ANA")
    account = await platform.drivers.ensure(*ANA, "ru", ["CARD-ANA"])
    first = await charge(ocpp_url, "CARD-ANA", 1)
    second = await charge(ocpp_url, "CARD-ANA", 2)
    await priced(api, first)
    await priced(api, second)
    ana = await logged_in(api, *ANA[:2])

    exported = await api.get("/api/v1/driver/export", headers=ana)
    assert exported.status_code == 200
    assert exported.headers["content-disposition"] == f'attachment; filename="silkcharge-data-{account.id}.json"'
    document = json.loads(exported.content)
    assert document["account"] == {"id": account.id, "email": ANA[0], "name": "Ana", "language": "ru",
                                   "created_at": document["account"]["created_at"]}
    assert [t["id_token"] for t in document["tokens"]] == ["CARD-ANA"]
    assert [s["id"] for s in document["charging_sessions"]] == [first, second]
    assert all(Decimal(s["charge"]["total_incl_vat"]) == 928 for s in document["charging_sessions"])
    [total] = document["totals"]
    assert total["currency"] == "KZT" and Decimal(total["total_incl_vat"]) == Decimal("1856")
    assert document["reservations"] == []


async def test_deleting_the_account_erases_personal_data_and_keeps_the_cdr_under_a_pseudonym(
    api, platform, ocpp_url
):
    await network(api, platform, "CARD-ANA")
    registered = await api.post("/api/v1/driver/register", headers=NO_KEY,
                                json={"email": ANA[0], "password": ANA[1], "name": ANA[2]})
    driver_id, app_token = registered.json()["id"], registered.json()["tokens"][0]
    await platform.drivers.link_tokens(driver_id, ["CARD-ANA"])
    tx = await charge(ocpp_url, "CARD-ANA")
    cdr = await priced(api, tx)
    await api.post("/api/v1/driver/password-reset", json={"email": ANA[0]}, headers=NO_KEY)
    other_session = await logged_in(api, *ANA[:2])
    ana = await logged_in(api, *ANA[:2])

    wrong = await api.request("DELETE", "/api/v1/driver/me", json={"password": "not it"}, headers=ana)
    assert wrong.status_code == 403 and "password is wrong" in wrong.json()["detail"]
    assert (await api.get("/api/v1/driver/me", headers=ana)).status_code == 200

    deleted = await api.request("DELETE", "/api/v1/driver/me", json={"password": ANA[1]}, headers=ana)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["sessions_kept"] == 1
    assert f'{COOKIE}=""' in deleted.headers["set-cookie"]  # the console's cookie goes too

    again = await api.request("DELETE", "/api/v1/driver/me", json={"password": ANA[1]}, headers=ana)
    assert again.status_code == 410 and "deleted" in again.json()["detail"]
    assert (await api.get("/api/v1/driver/me", headers=ana)).status_code == 410
    assert (await api.get("/api/v1/driver/me", headers=other_session)).status_code == 401
    relogin = await api.post("/api/v1/driver/login", json={"email": ANA[0], "password": ANA[1]}, headers=NO_KEY)
    assert relogin.status_code == 401

    pseudonym = platform.pseudonym_key.pseudonyms.of("CARD-ANA")
    async with platform.sessions() as db:
        row = await db.get(Driver, driver_id)
        assert (row.name, row.password_hash) == ("", "") and "ana" not in row.email
        assert row.deleted_at is not None
        assert await db.scalar(select(func.count()).select_from(DriverToken)) == 0
        assert await db.scalar(select(func.count()).select_from(DriverPasswordReset)) == 0
        assert await db.scalar(select(func.count()).where(DriverSession.expires_at > datetime.now(timezone.utc))) == 0
        assert await db.scalar(select(func.count()).where(  # the failed relogin above counts anew
            AuthAttempt.key_hash == key_digest(ANA[0]), AuthAttempt.at < row.deleted_at)) == 0
        assert await db.scalar(select(IdToken.id).where(IdToken.token == app_token)) is None
        card = await db.scalar(select(IdToken).where(IdToken.token == "CARD-ANA"))
        assert card is not None  # the operator's card, no longer anyone's
        assert (await db.get(Transaction, tx)).id_token == pseudonym
        frames = (await db.scalars(select(OcppMessage.payload).where(OcppMessage.station_id == STATION))).all()
    assert is_pseudonym(pseudonym)
    assert frames and not [f for f in frames if "CARD-ANA" in f]
    assert [f for f in frames if pseudonym in f]
    kept = await api.get(f"/api/v1/transactions/{tx}/cdr")
    assert kept.status_code == 200 and kept.json()["id"] == cdr["id"]
    assert kept.json()["total_incl_vat"] == cdr["total_incl_vat"]
    again = await api.post("/api/v1/driver/register", headers=NO_KEY,
                           json={"email": ANA[0], "password": ANA[1], "name": ANA[2]})
    assert again.status_code == 201  # the email is free for a new account


async def test_the_message_log_shows_one_pseudonym_per_card_unless_clear_values_are_asked(
    api, platform, ocpp_url
):
    await network(api, platform, "CARD-ANA")
    await charge(ocpp_url, "CARD-ANA")
    pseudonym = platform.pseudonym_key.pseudonyms.of("CARD-ANA")

    async def logged():
        frames = (await api.get(f"/api/v1/stations/{STATION}/messages?limit=1000")).json()
        stopped = [f for f in frames if f["action"] == "StopTransaction" and f["message_type"] == 2]
        return frames if stopped else None  # the last frame with the card is in the log

    frames = await eventually(logged)
    carrying = [f["payload"] for f in frames if pseudonym in f["payload"]]
    assert len(carrying) >= 3  # Authorize, StartTransaction, StopTransaction: one card, one pseudonym
    assert not [f for f in frames if "CARD-ANA" in f["payload"]]
    clear = (await api.get(f"/api/v1/stations/{STATION}/messages?limit=1000&personal_data=true")).json()
    assert len([f for f in clear if '"CARD-ANA"' in f["payload"]]) == len(carrying)
    assert not [f for f in clear if pseudonym in f["payload"]]

    day = "start=2026-11-21T00:00:00Z&end=2026-11-22T00:00:00Z"
    for route in ("summary?group_by=station", "attention", "utilisation", "uptime"):
        answer = await api.get(f"/api/v1/analytics/{route}&{day}" if "?" in route else f"/api/v1/analytics/{route}?{day}")
        assert answer.status_code == 200, answer.text
        assert "CARD-ANA" not in answer.text and pseudonym not in answer.text  # aggregates only
    summary = (await api.get(f"/api/v1/analytics/summary?group_by=station&{day}")).json()
    [station] = summary["groups"]
    assert (station["group"], station["sessions"]) == (STATION, 1)  # the session counts, without its card


async def test_the_pseudonym_key_is_made_once_and_shared_by_every_process(platform, settings):
    again = PseudonymKey(platform.sessions)
    await again.start()
    assert again.pseudonyms.of("CARD-1") == platform.pseudonym_key.pseudonyms.of("CARD-1")
    configured = PseudonymKey(platform.sessions, "k" * 32)
    await configured.start()
    assert configured.pseudonyms.of("CARD-1") != again.pseudonyms.of("CARD-1")
    assert "k" * 32 not in repr(configured.pseudonyms) and "k" * 32 not in repr(settings)


async def test_an_account_is_not_deleted_while_a_session_with_its_card_still_charges(api, platform, ocpp_url):
    await network(api, platform, "CARD-ANA")
    await platform.drivers.ensure(*ANA, "en", ["CARD-ANA"])
    ana = await logged_in(api, *ANA[:2])
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        started = await peer.call(call.StartTransaction(connector_id=1, id_tag="CARD-ANA", meter_start=0,
                                                        timestamp=to_ocpp(T0)))
        refused = await api.request("DELETE", "/api/v1/driver/me", json={"password": ANA[1]}, headers=ana)
        assert refused.status_code == 409
        assert f"session {started.transaction_id}" in refused.json()["detail"]
        assert (await api.get("/api/v1/driver/me", headers=ana)).json()["tokens"] == ["CARD-ANA"]
        await peer.call(call.StopTransaction(meter_stop=1000, timestamp=to_ocpp(T0 + timedelta(minutes=5)),
                                             transaction_id=started.transaction_id))
    deleted = await api.request("DELETE", "/api/v1/driver/me", json={"password": ANA[1]}, headers=ana)
    assert deleted.status_code == 200 and deleted.json()["sessions_kept"] == 1


async def test_a_driver_starts_charging_from_the_app_with_an_accepted_token_of_their_own(api, platform, ocpp_url):
    """The app's remote start: sent to the station for the driver's own token; another's token,
    no login, or a blocked token start nothing."""
    await network(api, platform, "CARD-BEK")
    registered = await api.post("/api/v1/driver/register", headers=NO_KEY,
                                json={"email": ANA[0], "password": ANA[1], "name": ANA[2]})
    app_token = registered.json()["tokens"][0]
    ana = await logged_in(api, *ANA[:2])
    body = {"station_id": STATION, "evse_id": 1}
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        assert (await api.post("/api/v1/driver/start", json=body, headers=NO_KEY)).status_code == 401
        theirs = await api.post("/api/v1/driver/start", json={**body, "id_token": "CARD-BEK"}, headers=ana)
        assert theirs.status_code == 403, theirs.text
        started = await api.post("/api/v1/driver/start", json=body, headers=ana)
        assert started.status_code == 200, started.text
        assert (started.json()["command"], started.json()["status"]) == ("remote_start", "Accepted")
        assert [p for a, p in peer.received if a == "RemoteStartTransaction"] == [
            {"id_tag": app_token, "connector_id": 1}]
        blocked = await api.patch(f"/api/v1/tokens/{app_token}", json={"status": "Blocked"})
        assert blocked.status_code == 200, blocked.text
        refused = await api.post("/api/v1/driver/start", json=body, headers=ana)
        assert refused.status_code == 422 and "Blocked" in refused.json()["detail"], refused.text
        assert peer.actions().count("RemoteStartTransaction") == 1
