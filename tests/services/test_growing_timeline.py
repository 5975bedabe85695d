"""The running cost extends an active session's timeline reading by reading
(`services/billing.py`, `_GrowingTimeline`); the bill makes it from all readings at once
(`timeline_of`). Whatever order the readings come in, batch after batch, the two agree."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from silkcharge.services.billing import _GrowingTimeline, timeline_of

START = datetime(2026, 12, 4, 8, 0, tzinfo=timezone.utc)

reading = st.tuples(
    st.integers(min_value=-5, max_value=60),  # seconds from the start: some before it, some equal
    st.sampled_from([("Energy.Active.Import.Register", "Wh"), ("Energy.Active.Import.Register", "kWh"),
                     ("Power.Active.Import", "W"), ("Power.Active.Import", "kW"), ("Power.Active.Import", None)]),
    st.integers(min_value=0, max_value=50_000),
)


def active(meter_start_wh: int) -> SimpleNamespace:
    return SimpleNamespace(started_at=START, meter_start_wh=Decimal(meter_start_wh), state="Active",
                           stopped_at=None, updated_at=START, meter_stop_wh=None)


@settings(max_examples=300, deadline=None)
@given(batches=st.lists(st.lists(reading, max_size=6), min_size=1, max_size=8),
       meter_start_wh=st.integers(min_value=0, max_value=1_000))
def test_a_timeline_grown_batch_by_batch_is_the_one_made_from_every_reading(batches, meter_start_wh):
    tx = active(meter_start_wh)
    grown = _GrowingTimeline(tx)
    stored: list[SimpleNamespace] = []
    for batch in batches:
        # A batch is what the store returns since the last ask: ids after every earlier one,
        # in time order (ties by id), as `_priced_samples` reads them.
        rows = [SimpleNamespace(id=len(stored) + n + 1, timestamp=START + timedelta(seconds=at),
                                measurand=measurand, unit=unit, value=Decimal(value))
                for n, (at, (measurand, unit), value) in enumerate(batch)]
        rows.sort(key=lambda r: (r.timestamp, r.id))
        stored += rows
        grown.add(rows)
        assert grown.timeline() == timeline_of(tx, sorted(stored, key=lambda r: (r.timestamp, r.id)))
