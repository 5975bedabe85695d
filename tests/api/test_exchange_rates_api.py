"""The exchange-rate routes: a finance person enters a rate with its day and source, anyone who
reads money lists them and converts with them, and every refusal says which value or which pair
and day. Rates are test values, not any bank's."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

RATES = "/api/v1/exchange-rates"
TODAY = datetime.now(timezone.utc).date()


def rate(on: date, value: str = "20", frm: str = "KZT", to: str = "UZS", **extra) -> dict:
    return {"from_currency": frm, "to_currency": to, "rate": value, "valid_on": on.isoformat(),
            "source": "test value", **extra}


async def test_a_rate_entered_is_listed_and_converts_an_amount(api) -> None:
    entered = await api.post(RATES, json=rate(TODAY - timedelta(days=1), "20.5"))
    assert entered.status_code == 201, entered.text
    body = entered.json()
    assert (body["rate"], body["source"], body["inverse_allowed"]) == ("20.5", "test value", False)
    assert body["entered_by"].startswith("legacy-key")  # who entered it is kept
    await api.post(RATES, json=rate(TODAY, "0.1", frm="UZS", to="USD"))
    listed = (await api.get(RATES, params={"from": "KZT"})).json()
    assert [(r["from_currency"], r["to_currency"], r["rate"]) for r in listed] == [("KZT", "UZS", "20.5")]
    converted = await api.get(f"{RATES}/convert", params={"amount": "4628.40", "from": "KZT", "to": "UZS",
                                                          "on": TODAY.isoformat()})
    assert converted.status_code == 200, converted.text
    answer = converted.json()
    assert answer["converted"] == {"amount": "94882.20", "currency": "UZS"}  # 4628.40 x 20.5
    assert answer["rate"]["valid_on"] == (TODAY - timedelta(days=1)).isoformat() and not answer["inverted"]


async def test_the_other_direction_converts_only_with_a_rate_that_allows_it(api) -> None:
    await api.post(RATES, json=rate(TODAY, "0.04", frm="UZS", to="KZT"))
    params = {"amount": "100", "from": "KZT", "to": "UZS", "on": TODAY.isoformat()}
    missing = await api.get(f"{RATES}/convert", params=params)
    assert missing.status_code == 404
    assert f"KZT→UZS valid on or before {TODAY.isoformat()}" in missing.json()["detail"]
    await api.post(RATES, json=rate(TODAY, "0.05", frm="KGS", to="KZT", inverse_allowed=True))
    inverse = await api.get(f"{RATES}/convert", params={**params, "to": "KGS"})
    assert inverse.status_code == 200, inverse.text
    assert (inverse.json()["factor"], inverse.json()["inverted"]) == ("20", True)
    assert inverse.json()["converted"] == {"amount": "2000.00", "currency": "KGS"}


async def test_a_stale_rate_is_refused_with_the_setting_that_bounds_it(api) -> None:
    await api.post(RATES, json=rate(TODAY - timedelta(days=30)))
    answer = await api.get(f"{RATES}/convert", params={"amount": "1", "from": "KZT", "to": "UZS"})
    assert answer.status_code == 409
    assert "exchange_rate_max_age_days" in answer.json()["detail"]


@pytest.mark.parametrize("change, reason", [
    ({"from_currency": "XXX"}, "unknown currency 'XXX'"),
    ({"to_currency": "KZT"}, "KZT to itself"),
    ({"rate": "0"}, "positive"),
    ({"rate": "-20"}, "positive"),
    ({"rate": "0.0000000000001"}, "more than 12 digits after the point"),
    ({"rate": "99999999999"}, "more than 10 digits before the point"),
    ({"rate": "Infinity"}, "rate"),
    ({"valid_on": (TODAY + timedelta(days=2)).isoformat()}, "is in the future"),
    ({"source": ""}, "source"),
    ({"source": "   "}, "source"),
    ({"surprise": 1}, "surprise"),
])
async def test_a_rate_that_cannot_be_entered_is_refused_with_its_reason(api, change, reason) -> None:
    answer = await api.post(RATES, json={**rate(TODAY), **change})
    assert answer.status_code == 422, answer.text
    assert reason in answer.json()["detail"]
    assert (await api.get(RATES)).json() == []  # nothing kept


async def test_a_second_rate_for_the_same_pair_and_day_is_a_conflict(api) -> None:
    assert (await api.post(RATES, json=rate(TODAY))).status_code == 201
    again = await api.post(RATES, json=rate(TODAY, "21"))
    assert again.status_code == 409 and "already entered (20 from test value)" in again.json()["detail"]
    trail = (await api.get("/api/v1/audit")).json()
    entries = [(e["action"], e["status"], e["change"]["rate"]) for e in trail
               if e["action"] == "POST /api/v1/exchange-rates"]
    assert sorted(entries) == [("POST /api/v1/exchange-rates", 201, "20"), ("POST /api/v1/exchange-rates", 409, "21")]
    assert (await api.post(RATES, json=rate(TODAY + timedelta(days=1), "21"))).status_code == 201  # tomorrow's


@pytest.mark.parametrize("params, reason", [
    ({"amount": "1", "from": "KZT", "to": "ABC"}, "unknown currency 'ABC'"),
    ({"amount": "1", "from": "KZT", "to": "KZT"}, "needs no exchange rate"),
    ({"amount": "NaN", "from": "KZT", "to": "UZS"}, "amount"),
    ({"amount": "1E+20", "from": "KZT", "to": "UZS"}, "amount"),
    ({"from": "KZT", "to": "UZS"}, "amount"),
    ({"amount": "1", "from": "KZT", "to": "UZS", "on": "yesterday"}, "on"),
])
async def test_a_conversion_asked_wrongly_is_refused_with_its_reason(api, params, reason) -> None:
    answer = await api.get(f"{RATES}/convert", params=params)
    assert answer.status_code == 422, answer.text
    assert reason in answer.json()["detail"]


async def test_a_viewer_converts_but_may_not_enter_a_rate(api) -> None:
    created = await api.post("/api/v1/access/keys", json={"name": "a viewer", "role": "viewer"})
    assert created.status_code == 201, created.text
    viewer = {"X-API-Key": created.json()["key"]}
    refused = await api.post(RATES, json=rate(TODAY), headers=viewer)
    assert refused.status_code == 403 and "money:write" in refused.json()["detail"]
    assert (await api.get(RATES, headers=viewer)).status_code == 200


async def test_a_rate_sent_as_a_json_number_is_kept_as_written(api) -> None:
    entered = await api.post(RATES, json={**rate(TODAY), "rate": 0.1})
    assert entered.status_code == 201, entered.text
    assert entered.json()["rate"] == "0.1"  # not 0.1000000000000000055511151231257827


async def test_a_list_filter_with_an_unknown_currency_is_refused(api) -> None:
    answer = await api.get(RATES, params={"from": "XXX"})
    assert answer.status_code == 422 and "unknown currency 'XXX'" in answer.json()["detail"]
    assert (await api.get(RATES, params={"to": "uzs", "since": TODAY.isoformat()})).status_code == 200
