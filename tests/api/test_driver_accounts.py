"""Driver accounts: register, log in (cookie or bearer), log out, reserving needs a login, and
the reset link goes to the log when no SMTP server is set (with one: test_account_recovery.py),
on SQLite and PostgreSQL. Reservations reaching a real charger are in tests/e2e and tests/web."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from silkcharge.api.accounts import COOKIE
from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.services.drivers import session_digest
from silkcharge.store.schema import Driver, DriverSession, IdToken, Reservation

ANA = {"email": "Ana@Example.kz", "password": "correct horse", "name": "Ana", "language": "kk"}
NO_KEY = {"X-API-Key": ""}


async def register(api: httpx.AsyncClient, **changes) -> httpx.Response:
    return await api.post("/api/v1/driver/register", json={**ANA, **changes}, headers=NO_KEY)


async def login(api: httpx.AsyncClient, email: str = ANA["email"], password: str = ANA["password"]):
    return await api.post("/api/v1/driver/login", json={"email": email, "password": password},
                          headers=NO_KEY)


async def count(platform, model) -> int:
    async with platform.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_a_registered_driver_gets_an_app_token_and_logs_in_with_a_cookie(api, platform):
    made = await register(api)
    assert made.status_code == 201, made.text
    driver = made.json()
    assert driver["email"] == "ana@example.kz" and driver["language"] == "kk"
    [token] = driver["tokens"]
    assert token.startswith("APP-") and len(token) <= 20  # fits OCPP 1.6 idTag (CiString20)

    session = await login(api, "ANA@example.kz ")
    assert session.status_code == 200, session.text
    cookie = session.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    me = await api.get("/api/v1/driver/me", headers=NO_KEY)  # the client sends the cookie back
    assert me.status_code == 200 and me.json()["tokens"] == [token]
    async with platform.sessions() as db:
        stored = await db.scalar(select(Driver))
        hashes = (await db.scalars(select(DriverSession.token_hash))).all()
        app_token = await db.scalar(select(IdToken).where(IdToken.token == token))
    assert stored.password_hash.startswith("scrypt$") and "correct horse" not in stored.password_hash
    assert hashes == [session_digest(session.json()["token"])]  # the token itself is not stored
    assert app_token.status == "Accepted" and app_token.type == "Central"


async def test_a_bearer_token_works_and_logout_ends_it_at_once(api):
    await register(api)
    token = (await login(api)).json()["token"]
    api.cookies.clear()
    bearer = {**NO_KEY, "Authorization": f"Bearer {token}"}
    assert (await api.get("/api/v1/driver/me", headers=bearer)).status_code == 200
    assert (await api.post("/api/v1/driver/logout", headers=bearer)).status_code == 204
    after = await api.get("/api/v1/driver/me", headers=bearer)
    assert after.status_code == 401 and "log in again" in after.json()["detail"]


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(api):
    await register(api)
    wrong = await login(api, password="not the password")
    unknown = await login(api, email="nobody@example.kz")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong email or password"}
    assert COOKIE not in api.cookies


async def test_an_expired_session_is_refused(api, platform):
    await register(api)
    await login(api)  # the session cookie stays in the client
    async with platform.sessions.begin() as db:
        await db.execute(update(DriverSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    answer = await api.get("/api/v1/driver/me", headers=NO_KEY)
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]


@pytest.mark.parametrize("changes, reason", [
    ({"email": "not-an-email"}, "is not an email address"),
    ({"password": "short"}, "password"),
    ({"name": "   "}, "a name needs"),
    ({"language": "fr"}, "language must be one of"),
    ({"role": "operator"}, "role"),
])
async def test_bad_registrations_say_why_and_store_nothing(api, platform, changes, reason):
    answer = await register(api, **changes)
    assert answer.status_code == 422 and reason in answer.json()["detail"], answer.text
    assert await count(platform, Driver) == 0
    assert await count(platform, IdToken) == 0


async def test_without_an_smtp_server_the_reset_link_is_written_to_the_log(api, caplog):
    await register(api)
    with caplog.at_level(logging.WARNING, logger="silkcharge.mail"):
        asked = await api.post("/api/v1/driver/password-reset", json={"email": ANA["email"]},
                               headers=NO_KEY)
    assert asked.status_code == 202, asked.text
    [mail] = [record.getMessage() for record in caplog.records if record.name == "silkcharge.mail"]
    assert "no SMTP server is configured" in mail and "ana@example.kz" in mail
    link = re.search(r"http://127\.0\.0\.1:8080/#/driver/reset/([\w-]+)", mail)
    assert link, mail  # SILKCHARGE_PUBLIC_URL unset: the API's own address
    reset = await api.post("/api/v1/driver/password-reset/confirm", headers=NO_KEY,
                           json={"token": link.group(1), "new_password": "a new battery staple"})
    assert reset.status_code == 204, reset.text
    assert (await login(api, password="a new battery staple")).status_code == 200


async def test_an_email_registers_once(api, platform):
    assert (await register(api)).status_code == 201
    again = await register(api, email="ana@EXAMPLE.kz", name="Someone else")
    assert again.status_code == 409 and "exists already" in again.json()["detail"]
    assert await count(platform, Driver) == 1


async def test_reserving_needs_a_login_and_a_token_of_ones_own(api, platform):
    body = {"station_id": "ANY", "evse_id": 1, "expires_at": to_ocpp(utcnow() + timedelta(minutes=20))}
    anonymous = await api.post("/api/v1/driver/reservations", json=body, headers=NO_KEY)
    assert anonymous.status_code == 401 and "/driver/login" in anonymous.json()["detail"]
    assert (await api.get("/api/v1/driver/reservations", headers=NO_KEY)).status_code == 401
    forged = await api.post("/api/v1/driver/reservations", json=body,
                            headers={**NO_KEY, "Authorization": "Bearer made-up"})
    assert forged.status_code == 401

    await register(api)
    await login(api)
    other = await api.post("/api/v1/driver/reservations", json={**body, "id_token": "SOMEONE-ELSE"},
                           headers=NO_KEY)
    assert other.status_code == 403 and "not one of this account's tokens" in other.json()["detail"]
    assert await count(platform, Reservation) == 0
    assert (await api.get("/api/v1/driver/reservations", headers=NO_KEY)).json() == []


async def test_the_seeded_driver_is_made_once_with_its_card(api, platform):
    assert (await api.post("/api/v1/tokens", json={"token": "CARD-7"})).status_code == 201
    first = await platform.drivers.ensure("demo@example.kz", "demo-driver", "Demo", "ru", ["CARD-7"])
    second = await platform.drivers.ensure("demo@example.kz", "demo-driver", "Demo", "ru", ["CARD-7"])
    assert first == second and first.tokens == ("CARD-7",)
    session = await login(api, "demo@example.kz", "demo-driver")
    assert session.json()["driver"]["tokens"] == ["CARD-7"]


def test_the_demo_seed_makes_the_documented_driver_who_owns_a_demo_card(database_url, tmp_path):
    from typer.testing import CliRunner

    from silkcharge.cli import DEMO_DRIVER, app
    from silkcharge.services.drivers import DriverService
    from silkcharge.store.db import create_engine_for, sessionmaker_for

    for _ in range(2):  # seeding twice changes nothing
        seeded = CliRunner().invoke(app, ["seed", "--fleet", str(tmp_path / "fleet.json")],
                                    env={"SILKCHARGE_DATABASE_URL": database_url})
        assert seeded.exit_code == 0, seeded.output

    async def log_in():
        engine = create_engine_for(database_url)
        try:
            drivers = DriverService(sessionmaker_for(engine), timedelta(hours=1))
            return await drivers.login("driver@example.kz", "demo-driver")
        finally:
            await engine.dispose()

    session = asyncio.run(log_in())
    assert session.driver.tokens == ("DEMO-RFID-0001",) == tuple(DEMO_DRIVER["tokens"])
