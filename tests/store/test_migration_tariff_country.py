"""Migration 0012: a stored tariff without a country_code takes its operator's country, because a
price without vat now pays that country's statutory VAT."""

from __future__ import annotations

import json

from alembic import command
from sqlalchemy import create_engine, text

from silkcharge.store.db import alembic_config, migrate, sync_url


def test_stored_tariffs_get_their_operators_country(database_url):
    command.downgrade(alembic_config(database_url), "0010")
    engine = create_engine(sync_url(database_url))
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO operators (id, code, name, country, currency, created_at) "
            "VALUES (1, 'KZ-OLD', 'Old', 'KZ', 'KZT', CURRENT_TIMESTAMP)"))
        for id_, body in ((1, {"id": "OLD", "currency": "KZT", "elements": []}),
                          (2, {"id": "UZ", "currency": "KZT", "country_code": "UZ", "elements": []})):
            connection.execute(text(
                "INSERT INTO tariffs (id, code, operator_id, site_id, body, created_at) "
                "VALUES (:id, :code, 1, NULL, :body, CURRENT_TIMESTAMP)"),
                {"id": id_, "code": body["id"], "body": json.dumps(body)})
    migrate(database_url)
    with engine.connect() as connection:
        rows = dict(connection.execute(text("SELECT code, body FROM tariffs")).all())
    engine.dispose()
    bodies = {code: json.loads(body) if isinstance(body, str) else body for code, body in rows.items()}
    assert bodies["OLD"]["country_code"] == "KZ"
    assert bodies["UZ"]["country_code"] == "UZ"  # one it had is kept
