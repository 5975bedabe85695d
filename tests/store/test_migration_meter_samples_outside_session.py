"""Migration 0038: readings taken outside a session that a station sent twice were stored twice
(the unique key's NULL transaction is never equal to another); one of each is kept, and from
then on a second copy is ignored as one of a session's is."""

from __future__ import annotations

from sqlalchemy import text

from silkcharge.store.db import migrate
from tests.store.downgraded import downgraded_with_station

SAMPLE = (
    "INSERT INTO meter_samples (station_id, evse_id, transaction_id, timestamp, measurand, phase, location, "
    "context, unit, value, tenant_id) VALUES ('MIG-1', :evse, NULL, '2026-12-06 01:00:00+00', "
    "'Energy.Active.Import.Register', '', '', '', 'Wh', :value, 1)"
)


def test_duplicate_readings_outside_a_session_are_kept_once_and_not_stored_again(database_url):
    engine = downgraded_with_station(database_url, "0037", "MIG-1")
    with engine.begin() as connection:
        for evse, value in ((1, 500), (1, 500), (1, 500), (1, 600), (2, 500)):
            connection.execute(text(SAMPLE), {"evse": evse, "value": value})
    migrate(database_url)
    with engine.begin() as connection:
        kept = sorted(connection.execute(text("SELECT evse_id, value FROM meter_samples")).all())
        connection.execute(text(SAMPLE + " ON CONFLICT DO NOTHING"), {"evse": 1, "value": 500})
        after = connection.execute(text("SELECT count(*) FROM meter_samples")).scalar()
    engine.dispose()
    assert [(evse, int(value)) for evse, value in kept] == [(1, 500), (1, 600), (2, 500)]
    assert after == 3, "a copy sent again is ignored"
