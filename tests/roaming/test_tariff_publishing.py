"""Which of our tariffs a roaming driver pays at a site, and how a tariff reads when published
over OCPI: our party, and VAT made concrete for the day."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

from silkcharge.domain.tariffs import Tariff
from silkcharge.roaming.auth import PartyRole
from silkcharge.roaming.objects import check_object
from silkcharge.roaming.tariffs import TARIFF, SiteTariffs, published_tariff
from silkcharge.roaming.wire import dumps
from silkcharge.store.schema import TariffRecord

NOW = datetime(2026, 12, 4, 6, 0, tzinfo=timezone.utc)
PARTY = PartyRole("KZ", "SLK", "CPO")


def record(id_: int, code: str, site_id: int | None, price: str = "100", **extra) -> TariffRecord:
    body = {"id": code, "currency": "KZT", "country_code": "KZ",
            "elements": [{"price_components": [{"type": "ENERGY", "price": price, "step_size": 1}]}], **extra}
    return TariffRecord(id=id_, code=code, operator_id=1, site_id=site_id, body=body,
                        created_at=datetime(2026, 3, 1, tzinfo=timezone.utc))


def test_a_roaming_driver_pays_the_sites_own_tariff_before_the_network_one_and_never_a_concession():
    tariffs = SiteTariffs([
        record(1, "NETWORK", None),
        record(2, "TAXI", 7, silkcharge={"token_groups": ["taxi"]}),
        record(3, "SITE-7", 7),
    ])
    assert tariffs.for_roaming(1, 7, NOW) == "SITE-7"
    assert tariffs.for_roaming(1, 8, NOW) == "NETWORK"
    assert tariffs.for_roaming(2, 7, NOW) is None


def test_a_vat_inclusive_tariff_is_published_without_vat_at_todays_rate_with_our_party():
    row = record(1, "KZ-AC", None, price="116", silkcharge={"vat_included": True})
    tariff = Tariff.from_ocpi(row.body)
    body, last_updated = published_tariff(row, tariff, PARTY, NOW)
    component = body["elements"][0]["price_components"][0]
    assert (component["price"], component["vat"]) == (Decimal("100.0000"), Decimal("16"))
    assert (body["country_code"], body["party_id"], body["id"]) == ("KZ", "SLK", "KZ-AC")
    assert last_updated == datetime(2026, 3, 1, tzinfo=timezone.utc)  # published after the rate began
    assert check_object(json.loads(dumps(body)), TARIFF) == []  # as a partner receives it
