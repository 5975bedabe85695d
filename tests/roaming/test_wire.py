"""The OCPI wire format: envelope, DateTime text, JSON numbers, paging, the token header."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import orjson
import pytest
from starlette.requests import Request

from silkcharge.roaming.auth import Caller, PartyRole, presented_tokens, token_digest
from silkcharge.roaming.wire import (
    MAX_LIMIT,
    OcpiError,
    Page,
    Status,
    dumps,
    envelope,
    ocpi_datetime,
    ocpi_response,
    parse_ocpi_datetime,
)

UTC = timezone.utc


def _request(query: str = "", headers: dict[str, str] | None = None, max_limit: int | None = None) -> Request:
    roaming = SimpleNamespace(settings=SimpleNamespace(ocpi_max_page_limit=max_limit)) if max_limit else None
    app = SimpleNamespace(state=SimpleNamespace(roaming=roaming) if roaming else SimpleNamespace())
    return Request({
        "type": "http", "method": "GET", "scheme": "https", "server": ("cpo.example.kz", 443),
        "path": "/ocpi/cpo/2.2.1/locations", "query_string": query.encode(), "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()], "app": app,
    })


def test_datetimes_are_written_in_utc_with_z_and_milliseconds_only_when_present():
    assert ocpi_datetime(datetime(2026, 12, 4, 10, 0, tzinfo=UTC)) == "2026-12-04T10:00:00Z"
    assert ocpi_datetime(datetime(2026, 12, 4, 10, 0, 0, 123456, tzinfo=UTC)) == "2026-12-04T10:00:00.123Z"
    almaty = timezone(timedelta(hours=5))
    assert ocpi_datetime(datetime(2026, 12, 4, 15, 0, tzinfo=almaty)) == "2026-12-04T10:00:00Z"
    assert ocpi_datetime(datetime(2026, 12, 4, 10, 0)) == "2026-12-04T10:00:00Z"  # naive from SQLite: UTC
    assert len(ocpi_datetime(datetime(2026, 12, 4, 10, 0, 0, 999999, tzinfo=UTC))) <= 25


@pytest.mark.parametrize("text, expected", [
    ("2015-06-29T20:39:09Z", datetime(2015, 6, 29, 20, 39, 9, tzinfo=UTC)),
    ("2015-06-29T20:39:09", datetime(2015, 6, 29, 20, 39, 9, tzinfo=UTC)),
    ("2016-12-29T17:45:09.2Z", datetime(2016, 12, 29, 17, 45, 9, 200000, tzinfo=UTC)),
    ("2016-12-29T17:45:09.123456789Z", datetime(2016, 12, 29, 17, 45, 9, 123456, tzinfo=UTC)),
    ("2016-12-29T22:45:09+05:00", datetime(2016, 12, 29, 17, 45, 9, tzinfo=UTC)),
])
def test_datetimes_read_with_or_without_zone_and_fraction_become_aware_utc(text, expected):
    parsed = parse_ocpi_datetime(text, "last_updated")
    assert parsed == expected and parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["", "yesterday", "2015-06-29", "2015-13-29T20:39:09Z", "2015-06-29 20:39:09Z",
                                  "2015-02-30T00:00:00Z", "2015-06-29T20:39:09Zjunk"])
def test_a_bad_datetime_is_an_invalid_parameters_error_naming_the_field(text):
    with pytest.raises(OcpiError) as refused:
        parse_ocpi_datetime(text, "date_from")
    assert refused.value.status is Status.INVALID_PARAMETERS and "date_from" in refused.value.message
    assert refused.value.http_status == 400


def test_a_datetime_round_trips_through_its_text():
    moment = datetime(2026, 12, 4, 10, 1, 2, 345000, tzinfo=UTC)
    assert parse_ocpi_datetime(ocpi_datetime(moment), "t") == moment


def test_the_envelope_carries_data_status_and_a_utc_timestamp():
    answer = envelope({"id": "KZ*SLK"})
    assert answer["data"] == {"id": "KZ*SLK"} and answer["status_code"] == 1000
    assert "status_message" not in answer
    stamp = parse_ocpi_datetime(answer["timestamp"], "timestamp")
    assert abs(stamp - datetime.now(UTC)) < timedelta(seconds=5) and answer["timestamp"].endswith("Z")
    refused = envelope(None, Status.UNKNOWN_LOCATION, "no location KZ-ALA-1")
    assert refused == {**refused, "data": None, "status_code": 2003, "status_message": "no location KZ-ALA-1"}


def test_amounts_go_out_as_exact_json_numbers_and_times_as_ocpi_text():
    body = dumps({"price": Decimal("0.1"), "big": Decimal("12345678901234567890.123456789"),
                  "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)})
    assert body == b'{"price":0.1,"big":12345678901234567890.123456789,"at":"2026-01-02T03:04:05Z"}'


def test_a_response_is_json_with_the_envelope_and_the_given_headers():
    response = ocpi_response([1, 2], headers={"X-Total-Count": "2"})
    assert response.status_code == 200 and response.media_type == "application/json"
    assert response.headers["x-total-count"] == "2"
    assert orjson.loads(response.body)["data"] == [1, 2]


def test_a_page_without_limit_takes_the_servers_maximum_and_a_larger_limit_is_capped():
    assert Page(_request(), offset=0, limit=None).limit == MAX_LIMIT
    assert Page(_request(), offset=0, limit=10_000).limit == MAX_LIMIT
    assert Page(_request(), offset=0, limit=7).limit == 7
    assert Page(_request(max_limit=20), offset=0, limit=50).limit == 20  # the setting, when roaming is wired


def test_a_page_reads_its_date_window_and_refuses_a_reversed_or_garbled_one():
    page = Page(_request(), offset=0, limit=None, date_from="2026-12-01T00:00:00Z", date_to="2026-12-02T00:00:00")
    assert page.date_from == datetime(2026, 12, 1, tzinfo=UTC) and page.date_to == datetime(2026, 12, 2, tzinfo=UTC)
    with pytest.raises(OcpiError) as reversed_window:
        Page(_request(), offset=0, limit=None, date_from="2026-12-02T00:00:00Z", date_to="2026-12-01T00:00:00Z")
    assert reversed_window.value.status is Status.INVALID_PARAMETERS
    with pytest.raises(OcpiError):
        Page(_request(), offset=0, limit=None, date_from="last week")


def test_page_headers_link_the_next_page_with_the_same_query_until_the_last():
    request = _request("date_from=2026-12-01T00:00:00Z&limit=10")
    first = Page(request, offset=0, limit=10)
    headers = first.headers(request, total=25)
    assert headers["X-Total-Count"] == "25" and headers["X-Limit"] == "10"
    link = headers["Link"]
    assert link.startswith("<https://cpo.example.kz/ocpi/cpo/2.2.1/locations?") and link.endswith('>; rel="next"')
    assert "offset=10" in link and "limit=10" in link and "date_from=2026-12-01T00%3A00%3A00Z" in link
    last = Page(request, offset=20, limit=10)
    assert "Link" not in last.headers(request, total=25)
    assert "Link" not in Page(request, offset=0, limit=10).headers(request, total=10)


def test_the_token_header_is_read_base64_first_then_as_sent():
    encoded = base64.b64encode(b"token-c-123").decode()
    assert presented_tokens(_request(headers={"Authorization": f"Token {encoded}"})) == ["token-c-123", encoded]
    assert presented_tokens(_request(headers={"Authorization": "Token plain-2.1.1-token!"})) == ["plain-2.1.1-token!"]
    assert presented_tokens(_request(headers={"Authorization": "Bearer abc"})) == []
    assert presented_tokens(_request(headers={"Authorization": "Token "})) == []
    assert presented_tokens(_request()) == []


def test_a_token_is_kept_as_its_sha256_only():
    assert token_digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_a_caller_speaks_for_its_parties_only_whatever_the_case():
    caller = Caller(partner_id=1, tenant_id=2, roles=(PartyRole("UZ", "UZE", "EMSP"),))
    assert caller.is_party("UZ", "UZE") and caller.is_party("uz", "uze")
    assert not caller.is_party("KZ", "SLK")
