"""A person's own account (issue 15, item 2): they change their password by giving the current
one, which ends their other sessions and keeps the one asking; a wrong current password changes
nothing; a key has no password to change; neither password enters the audit trail; the people
list says when each person last signed in."""

from __future__ import annotations

import httpx

from silkcharge.api.app import create_api
from silkcharge.domain.roles import Role
from silkcharge.services.access import Principal

BOOT = Principal("key", None, "test bootstrap", Role.PLATFORM_ADMIN, None)
OLD = "an-old-password-1"
NEW = "a-brand-new-password-2"


def _client(platform) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_api(platform)), base_url="http://silkcharge")


async def _login(client: httpx.AsyncClient, password: str) -> httpx.Response:
    return await client.post("/api/v1/access/login", json={"email": "tech@example.org", "password": password})


async def test_a_person_changes_their_password_and_their_other_sessions_end(platform):
    await platform.access.create_account(BOOT, "tech@example.org", "A Technician", OLD, Role.TECHNICIAN, 1)
    async with _client(platform) as here, _client(platform) as elsewhere:
        assert (await _login(here, OLD)).status_code == 200
        assert (await _login(elsewhere, OLD)).status_code == 200
        changed = await here.post("/api/v1/access/me/password",
                                  json={"current_password": OLD, "new_password": NEW})
        assert changed.status_code == 204, changed.text
        me = await here.get("/api/v1/access/me")
        assert me.status_code == 200 and me.json()["totp"] is False  # the session that asked stays
        assert (await elsewhere.get("/api/v1/access/me")).status_code == 401  # the other one ended
        assert (await _login(elsewhere, OLD)).status_code == 401
        assert (await _login(elsewhere, NEW)).status_code == 200
    entries = await platform.audit.entries(action="/access/me/password")
    assert len(entries) == 1 and entries[0].status == 204
    recorded = str(entries[0].change)
    assert OLD not in recorded and NEW not in recorded and "(redacted)" in recorded


async def test_a_wrong_current_password_changes_nothing(platform):
    await platform.access.create_account(BOOT, "tech@example.org", "A Technician", OLD, Role.TECHNICIAN, 1)
    async with _client(platform) as person:
        await _login(person, OLD)
        wrong = await person.post("/api/v1/access/me/password",
                                  json={"current_password": "not-the-password", "new_password": NEW})
        assert wrong.status_code == 403 and wrong.json()["detail"] == "the current password is not right"
        same = await person.post("/api/v1/access/me/password", json={"current_password": OLD, "new_password": OLD})
        assert same.status_code == 422, same.text
        short = await person.post("/api/v1/access/me/password", json={"current_password": OLD, "new_password": "short"})
        assert short.status_code == 422
        assert (await person.get("/api/v1/access/me")).status_code == 200
        assert (await _login(person, OLD)).status_code == 200
        assert (await _login(person, NEW)).status_code == 401


async def test_a_key_has_no_password_to_change(platform):
    _, key = await platform.access.create_key(BOOT, "a key", Role.OPERATOR_ADMIN, 1, None)
    async with _client(platform) as client:
        answer = await client.post("/api/v1/access/me/password", headers={"X-API-Key": key},
                                   json={"current_password": OLD, "new_password": NEW})
    assert answer.status_code == 403 and "not to a key" in answer.json()["detail"]
    async with _client(platform) as client:
        me = await client.get("/api/v1/access/me", headers={"X-API-Key": key})
    assert me.json()["totp"] is None


async def test_the_people_list_says_when_each_person_last_signed_in(platform):
    await platform.access.create_account(BOOT, "tech@example.org", "A Technician", OLD, Role.TECHNICIAN, 1)
    _, admin = await platform.access.create_key(BOOT, "admin", Role.OPERATOR_ADMIN, 1, None)
    async with _client(platform) as client:
        before = (await client.get("/api/v1/access/accounts", headers={"X-API-Key": admin})).json()
        assert [a["last_login_at"] for a in before] == [None]
        await _login(client, OLD)
        client.cookies.clear()
        after = (await client.get("/api/v1/access/accounts", headers={"X-API-Key": admin})).json()
    assert after[0]["last_login_at"] is not None


async def test_a_wrong_code_while_turning_on_the_second_factor_leaves_it_pending_for_the_right_one(platform):
    from silkcharge.domain import totp
    from silkcharge.domain.clock import utcnow
    await platform.access.create_account(BOOT, "tech@example.org", "A Technician", OLD, Role.TECHNICIAN, 1)
    async with _client(platform) as person:
        await _login(person, OLD)
        secret = (await person.post("/api/v1/access/me/totp")).json()["secret"]
        right = totp.code_at(secret, utcnow())
        wrong = await person.post("/api/v1/access/me/totp/confirm", json={"code": "000000" if right != "000000" else "111111"})
        assert wrong.status_code == 422 and "current one" in wrong.json()["detail"]
        confirmed = await person.post("/api/v1/access/me/totp/confirm", json={"code": totp.code_at(secret, utcnow())})
        assert confirmed.status_code == 204, confirmed.text
        assert (await person.get("/api/v1/access/me")).json()["totp"] is True
